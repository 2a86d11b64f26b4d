//! Without gradflow's `alloc` feature the heap functions `network!` generates (`new_boxed` of
//! the network, its cache and its gradients, and `to_le_bytes`) and the optimizers'
//! `new_boxed` are compile errors that name
//! the feature, not "no function named `new_boxed`". trybuild builds with this crate's
//! features (`alloc` on), so this test runs `cargo check` on a no_std, no-alloc fixture crate
//! (`tests/fixtures/no_alloc`) and reads the errors.

use std::process::Command;

#[test]
fn heap_functions_without_alloc_are_errors_that_name_the_feature() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/no_alloc");
    let target = concat!(env!("CARGO_TARGET_TMPDIR"), "/no_alloc_fixture");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .args(["check", "--quiet", "--message-format=short"])
        .current_dir(fixture)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the fixture compiled:\n{stderr}");
    let message = "error[E0277]: this function allocates on the heap: it needs gradflow's \
                   `alloc` feature (on with `std`)";
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error[")).collect();
    // One per call in src/lib.rs, at its line, and nothing else.
    let at = [
        "src/lib.rs:14:",
        "src/lib.rs:15:",
        "src/lib.rs:16:",
        "src/lib.rs:20:",
        "src/lib.rs:25:",
        "src/lib.rs:26:",
    ];
    assert_eq!(errors.len(), at.len(), "{stderr}");
    for (line, at) in errors.iter().zip(at) {
        assert!(
            line.starts_with(at) && line.contains(message),
            "{line}\n{stderr}"
        );
    }
}
