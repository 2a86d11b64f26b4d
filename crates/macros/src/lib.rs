use proc_macro::TokenStream; #[proc_macro] pub fn network(_i: TokenStream) -> TokenStream { TokenStream::new() }
