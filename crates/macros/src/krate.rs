//! The path of the `gradflow` crate in the user's crate. The expansion is written against
//! `::gradflow`; when the user's `Cargo.toml` renames the dependency
//! (`gf = { package = "gradflow", .. }`), [`rename`] rewrites every `::gradflow` to `::gf`.

use proc_macro2::{Group, Ident, Literal, TokenStream, TokenTree};
use proc_macro_crate::{crate_name, FoundCrate};
use quote::ToTokens;

/// The name under which the crate being compiled depends on `gradflow`, when it is not
/// `gradflow`. `None` also when it cannot be told (no `Cargo.toml`, as in a build without
/// cargo): the expansion then keeps `::gradflow`.
pub fn renamed() -> Option<String> {
    match crate_name("gradflow") {
        Ok(FoundCrate::Name(name)) if name != "gradflow" => Some(name),
        _ => None,
    }
}

/// `tokens` with every `::gradflow` path root, and every `::gradflow::` inside a string literal
/// (the `bytemuck(crate = "..")` path, doc links), naming `name` instead. Spans are kept.
pub fn rename(tokens: TokenStream, name: &str) -> TokenStream {
    let mut out: Vec<TokenTree> = Vec::new();
    for tree in tokens {
        let renamed = match tree {
            TokenTree::Ident(ident) if ident == "gradflow" && after_root_colons(&out) => {
                TokenTree::Ident(Ident::new(name, ident.span()))
            }
            TokenTree::Group(group) => {
                let mut renamed = Group::new(group.delimiter(), rename(group.stream(), name));
                renamed.set_span(group.span());
                TokenTree::Group(renamed)
            }
            TokenTree::Literal(lit) => TokenTree::Literal(rename_in_string(lit, name)),
            tree => tree,
        };
        out.push(renamed);
    }
    out.into_iter().collect()
}

/// Whether `before` ends with a `::` that starts a path (`::gradflow`), not one inside a path
/// (`a::gradflow`).
fn after_root_colons(before: &[TokenTree]) -> bool {
    let is_colon =
        |t: Option<&TokenTree>| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == ':');
    let n = before.len();
    if n < 2 || !is_colon(before.get(n - 1)) || !is_colon(before.get(n - 2)) {
        return false;
    }
    match n.checked_sub(3).map(|i| &before[i]) {
        // `a::gradflow`, but not `as ::gradflow` or `dyn ::gradflow` (syn refuses keywords).
        Some(TokenTree::Ident(ident)) => syn::parse2::<Ident>(ident.to_token_stream()).is_err(),
        // `-> ::gradflow`, `impl<..> ::gradflow`: a crate is never an item of a type.
        _ => true,
    }
}

fn rename_in_string(lit: Literal, name: &str) -> Literal {
    if !lit.to_string().contains("::gradflow::") {
        return lit;
    }
    let Ok(string) = syn::parse2::<syn::LitStr>(TokenTree::Literal(lit.clone()).into()) else {
        return lit;
    };
    let text = string
        .value()
        .replace("::gradflow::", &format!("::{name}::"));
    let mut renamed = Literal::string(&text);
    renamed.set_span(lit.span());
    renamed
}

#[cfg(test)]
mod tests {
    use super::rename;
    use quote::quote;

    #[test]
    fn only_path_roots_and_paths_in_strings_are_renamed() {
        let tokens = quote! {
            #[bytemuck(crate = "::gradflow::__private::bytemuck")]
            struct S(::gradflow::nn::Dense<f32, 1, 1>, gradflow::Other, a::gradflow::B);
            fn f() { let gradflow = 1; ::gradflow::g(gradflow, "gradflow"); }
            impl<T> Tr for <T as ::gradflow::A>::B where dyn ::gradflow::C: X { fn f() -> ::gradflow::D {} }
        };
        let expected = quote! {
            #[bytemuck(crate = "::gf::__private::bytemuck")]
            struct S(::gf::nn::Dense<f32, 1, 1>, gradflow::Other, a::gradflow::B);
            fn f() { let gradflow = 1; ::gf::g(gradflow, "gradflow"); }
            impl<T> Tr for <T as ::gf::A>::B where dyn ::gf::C: X { fn f() -> ::gf::D {} }
        };
        assert_eq!(rename(tokens, "gf").to_string(), expected.to_string());
    }
}
