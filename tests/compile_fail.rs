//! Every compile-time error that `network!` and the layer traits promise, checked against
//! the expected compiler output in `tests/ui/*.stderr`
//! (regenerate with `TRYBUILD=overwrite cargo test --test compile_fail`, then read them).
//!
//! Some errors are post-monomorphization (an inline `const { assert!(..) }`, such as
//! batchnorm trained on a batch of one), which `cargo check` does not report
//! (rust-lang/rust#99682). With at least one `pass` case trybuild builds every case instead
//! of checking it (dtolnay/trybuild#258), so those errors are seen: keep a pass case here.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
