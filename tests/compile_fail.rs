//! Every compile-time error that `network!` and the layer traits promise, checked against
//! the expected compiler output in `tests/ui/*.stderr`
//! (regenerate with `TRYBUILD=overwrite cargo test --test compile_fail`, then read them).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
