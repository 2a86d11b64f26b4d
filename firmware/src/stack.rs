//! Stack high-water marks by painting: fill the free stack with a pattern, run the code,
//! and find the deepest word that no longer holds it. `size` on the ELF reports flash and
//! static RAM; this reports the stack, the rest of the RAM the firmware needs.

use core::ptr::addr_of;

const PAINT: u32 = 0xDEAD_BEEF;

extern "C" {
    // cortex-m-rt's linker script: the end of the statics (`.bss`, `.data`, `.uninit`),
    // where the stack may grow down to, and the top of the stack.
    static _stack_end: u32;
    static _stack_start: u32;
}

/// Fills the free stack, from its lowest address up to just below the caller's frame.
#[inline(never)]
pub fn paint() {
    // Leave the words just below the stack pointer alone: this function's own frame.
    let top = cortex_m::register::msp::read() as usize - 256;
    let mut word = addr_of!(_stack_end) as usize;
    while word < top {
        // SAFETY: the words between the end of the statics and the stack pointer are free
        // RAM: no static lives there, there is no heap, and the stack has not grown into
        // them. They are 4-byte aligned (the linker script asserts it for `_stack_end`).
        unsafe { core::ptr::write_volatile(word as *mut u32, PAINT) };
        word += 4;
    }
}

/// Bytes of stack used since the last [`paint`]: from the top of the stack down to the
/// deepest word that lost its paint.
pub fn high_water() -> usize {
    let top = addr_of!(_stack_start) as usize;
    let mut word = addr_of!(_stack_end) as usize;
    // SAFETY: as in `paint`, these words are RAM the firmware owns; reading a word the stack
    // is using is a plain read of initialized memory.
    while word < top && unsafe { core::ptr::read_volatile(word as *const u32) } == PAINT {
        word += 4;
    }
    top - word
}
