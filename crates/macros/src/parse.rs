//! syn `Parse` impls for the `network!` grammar (documented in `lib.rs`).
//!
//! The layer list is split at top-level commas first and each item is parsed on its own,
//! so that every malformed item is reported, not just the first.

use crate::ast::{
    ActivationItem, Conv, Dense, Input, Item, Network, Padding, Pool, RawAttr, Repeat, Residual,
    UserLayer, Width, ITEM_KEYWORDS, MAX_NESTING,
};
use crate::attr::{self, Activation, ACTIVATION_NAMES};
use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use quote::ToTokens;
use syn::buffer::Cursor;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{braced, bracketed, parenthesized, Attribute, Ident, Lit, Token, Type, Visibility};

impl Parse for Network {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let Header { attrs, vis, name } = Header::parse_start(input)?;
        if !input.peek(Token![<]) {
            return Err(input.error(format!(
                "expected the element type after the network's name, like `{name}<f32>`"
            )));
        }
        input.parse::<Token![<]>()?;
        let elem = element_type(input)?;
        input.parse::<Token![>]>()?;
        let content;
        let brace = braced!(content in input);
        // An item that does not parse becomes `Item::Invalid`, so that `check` still reports
        // the errors of the others.
        let mut items = parse_item_list(&content, 0)?;
        let mut parse_errors: Option<syn::Error> = None;
        for item in &mut items {
            if let Some(error) = match item {
                Item::Invalid(_, error) => error.take(),
                _ => None,
            } {
                match &mut parse_errors {
                    Some(all) => all.combine(error),
                    None => parse_errors = Some(error),
                }
            }
        }
        if !input.is_empty() {
            // A second network in the same call (`struct A { .. } struct B { .. }`).
            // Its attributes first, then `pub` or `struct`: a lone doc comment after the body
            // is not a network.
            let ahead = input.fork();
            let _ = ahead.call(Attribute::parse_outer);
            let another = ahead.peek(Token![struct])
                || ahead
                    .parse::<Visibility>()
                    .is_ok_and(|v| !matches!(v, Visibility::Inherited));
            if another {
                return Err(input.error(
                    "one network per `network!` call: write this one in a `network! { .. }` of \
                     its own",
                ));
            }
            return Err(input.error("unexpected tokens after the network's `{ ... }` body"));
        }
        Ok(Network {
            attrs,
            vis,
            name,
            elem,
            body_span: brace.span.join(),
            items,
            parse_errors,
        })
    }
}

/// The depth of `<..>` nesting after `tt`, from `depth` before it: the token scanners that cut
/// a type or an item out of the input by hand skip what is inside generic arguments.
fn nesting(depth: usize, tt: &TokenTree) -> usize {
    match tt {
        TokenTree::Punct(p) if p.as_char() == '<' => depth + 1,
        TokenTree::Punct(p) if p.as_char() == '>' => depth.saturating_sub(1),
        _ => depth,
    }
}

/// The tokens between `<` and its `>`, as a type: `check` then accepts only `f32` and `f64`.
/// Anything that is not one type (a lifetime, two parameters) is refused here, on the tokens.
fn element_type(input: ParseStream) -> syn::Result<Type> {
    let mut tokens = TokenStream::new();
    let mut depth = 0usize;
    let mut commas = false;
    while !input.is_empty() {
        if input.peek(Token![>]) && depth == 0 {
            break;
        }
        // One trailing comma, as Rust allows in generic arguments: `Net<f32,>`.
        if input.peek(Token![,]) && input.peek2(Token![>]) && depth == 0 && !commas {
            input.parse::<Token![,]>()?;
            break;
        }
        // The body's braces before any `>`: the `>` is missing (`Net<f32 { .. }`).
        if depth == 0 && input.peek(syn::token::Brace) {
            return Err(input.error("expected `>` after the element type, like `Net<f32> { .. }`"));
        }
        let tt: TokenTree = input.parse()?;
        commas |= depth == 0 && matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',');
        depth = nesting(depth, &tt);
        tokens.extend([tt]);
    }
    syn::parse2::<Type>(tokens.clone())
        .ok()
        .filter(|_| !tokens.is_empty())
        .ok_or_else(|| {
            let found = tokens.to_string().replace(' ', "");
            let message = format!(
                "the element type must be f32 or f64, found `{found}`: a network takes no \
                 other generic parameters"
            );
            if tokens.is_empty() {
                input.error(message)
            } else {
                syn::Error::new_spanned(&tokens, message)
            }
        })
}

/// The part of the input before the element type: enough to emit a placeholder struct
/// when the rest fails to parse.
pub struct Header {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
}

impl Header {
    fn parse_start(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name = input.parse()?;
        Ok(Header { attrs, vis, name })
    }
}

impl Parse for Header {
    /// Parses the header and skips whatever follows it.
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let header = Header::parse_start(input)?;
        input.parse::<TokenStream>()?;
        Ok(header)
    }
}

/// Parses comma-separated items. An item that fails to parse is kept as an
/// [`Item::Invalid`] at its first token, with its error, so that the errors of the items that
/// do parse are reported too. `depth` is the number of `residual` and `repeat` blocks around
/// them (0 for the network's own list).
fn parse_item_list(input: ParseStream, depth: usize) -> syn::Result<Vec<Item>> {
    let mut items = Vec::new();
    while !input.is_empty() {
        // Commas inside a user layer's generic arguments (`Scale<f32, 64>`) do not split.
        let mut chunk = TokenStream::new();
        let span = input.span();
        let mut angle_depth = 0usize;
        while !input.is_empty() {
            let tt: TokenTree = input.parse()?;
            if angle_depth == 0 && matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            angle_depth = nesting(angle_depth, &tt);
            chunk.extend([tt]);
        }
        // Only a network's first item may be `input`.
        let first = depth == 0 && items.is_empty();
        let parsed = match chunk.clone().into_iter().last() {
            None => Err(syn::Error::new(span, "expected a layer before this comma")),
            Some(last) => {
                // Parsed inside a group spanning its last token: an item cut short (`dense,`)
                // is reported there, where on its own tokens syn could only point at the
                // whole macro call.
                let mut group = Group::new(Delimiter::Parenthesis, chunk);
                group.set_span(last.span());
                let item = |input: ParseStream| {
                    let content;
                    parenthesized!(content in input);
                    Item::parse(&content, depth, first)
                };
                item.parse2(TokenTree::Group(group).into())
            }
        };
        items.push(parsed.unwrap_or_else(|e| Item::Invalid(span, Some(e))));
    }
    Ok(items)
}

impl Item {
    /// One whole item: nothing may follow it but the separating comma.
    fn parse(input: ParseStream, depth: usize, first: bool) -> syn::Result<Self> {
        let item = parse_item(input, depth, first)?;
        if !input.is_empty() {
            // What follows a `repeat` of one item (`repeat 2 dense 4 relu`) is that item's.
            let last = match &item {
                Item::Repeat(r) if !r.braced => r.items.last().unwrap_or(&item),
                _ => &item,
            };
            return Err(bare_attribute(last, input)
                .or_else(|| attributes_not_taken(last, input))
                .or_else(|| misplaced_attribute_list(last, input))
                .unwrap_or_else(|| input.error("expected `,` between items")));
        }
        Ok(item)
    }
}

/// For `[..]` after `input` (`input 64 [relu]`), an error that says it takes none rather
/// than asking for a comma (the other items without attributes say so as they parse).
fn attributes_not_taken(item: &Item, input: ParseStream) -> Option<syn::Error> {
    if !matches!(item, Item::Input(_)) || !input.peek(syn::token::Bracket) {
        return None;
    }
    Some(input.error(
        "`input` takes no attributes: it only declares the shape (put an activation or \
         `batchnorm` on the first layer, `standardize` after the input)",
    ))
}

/// For attributes a layer has in the wrong form (`dense 8 (relu)`, a second list as in
/// `dense 8 [relu] [batchnorm]`) or a `repeat` block given an activation after its braces,
/// an error that says how to write them.
fn misplaced_attribute_list(item: &Item, input: ParseStream) -> Option<syn::Error> {
    // An example of the item's one list of attributes.
    let example = match item {
        Item::Dense(_) => Some("dense 8 [batchnorm, relu]"),
        Item::Conv(_) => Some("conv2d 16 k3 same [batchnorm, relu]"),
        Item::BatchNorm(..) => Some("batchnorm [frozen]"),
        Item::Layer(_) => Some("layer my::Scale (64 -> 64) [frozen]"),
        _ => None,
    };
    if let Some(example) = example {
        if input.peek(syn::token::Paren) {
            return Some(input.error(format!("a layer's attributes go in brackets: `{example}`")));
        }
        if input.peek(syn::token::Bracket) {
            return Some(input.error(format!("a layer takes one list of attributes: `{example}`")));
        }
    }
    let activation = input
        .fork()
        .call(Ident::parse_any)
        .is_ok_and(|name| ACTIVATION_NAMES.contains(&name.to_string().as_str()));
    (matches!(item, Item::Repeat(_)) && activation).then(|| {
        input.error(
            "`repeat` takes no activation after its block (only `residual` does): put it \
             on the layers inside, `repeat 3 { dense 8 [relu] }`, or make it the block's last \
             item",
        )
    })
}

/// For an attribute written after a layer without its brackets (`batchnorm frozen`), an error
/// that says where it goes; `None` when what follows is not one of the item's attributes.
fn bare_attribute(item: &Item, input: ParseStream) -> Option<syn::Error> {
    let name = input.fork().call(Ident::parse_any).ok()?;
    let text = name.to_string();
    // Only an attribute the item would take in brackets: `batchnorm` and `layer` items take
    // `frozen` alone.
    let known = match item {
        Item::Dense(_) | Item::Conv(_) => attr::dense_attribute_names().contains(&text.as_str()),
        Item::BatchNorm(..) | Item::Layer(_) => text == "frozen",
        _ => false,
    };
    // A convolution's option written after its attributes (`conv2d 4 [relu] same`).
    let sized = |prefix| is_sized_option(&text, prefix);
    let option = matches!(item, Item::Conv(_))
        && (text == "same" || text == "valid" || sized('k') || sized('s'));
    if option {
        return Some(syn::Error::new(
            name.span(),
            format!(
                "a convolution's options (kernel, stride, padding) come before its attributes: \
                 write `{text}` before the `[..]`, like `conv2d 16 k3 same [relu]`"
            ),
        ));
    }
    known.then(|| {
        syn::Error::new(
            name.span(),
            format!("attributes go in brackets after the layer: write `[{text}]`"),
        )
    })
}

/// The error for a `residual` or `repeat` block (`keyword`) whose body would be nested
/// `depth` blocks deep, past [`MAX_NESTING`]: deeper nesting would overflow the macro's stack.
fn check_nesting(keyword: &Ident, depth: usize) -> syn::Result<()> {
    if depth <= MAX_NESTING {
        return Ok(());
    }
    Err(syn::Error::new(
        keyword.span(),
        format!(
            "`residual` and `repeat` blocks nest at most {MAX_NESTING} deep, and this \
             `{keyword}` is block {depth} of its nest"
        ),
    ))
}

/// One item, leaving whatever follows it in `input` (`repeat N ITEM` parses its item so);
/// `depth` is the number of blocks around it; `first` says whether it is the network's first
/// item, the only place where `input` belongs (error messages offer it only there).
fn parse_item(input: ParseStream, depth: usize, first: bool) -> syn::Result<Item> {
    let keywords = if first {
        ITEM_KEYWORDS
    } else {
        &ITEM_KEYWORDS[1..]
    };
    if input.peek(Token![#]) {
        let attrs = input.call(Attribute::parse_outer)?;
        return Err(syn::Error::new_spanned(
            &attrs[0],
            "an item takes no doc comment or attribute: use a `//` comment here, or document \
             the network with `///` above its `struct`",
        ));
    }
    if !input.peek(Ident::peek_any) {
        return Err(input.error(format!("expected an item: one of {}", keywords.join(", "))));
    }
    let keyword = input.call(Ident::parse_any)?;
    let name = keyword.to_string();
    let item = match name.as_str() {
        "input" => Item::Input(input.parse()?),
        "dense" => Item::Dense(Dense {
            keyword,
            width: input.parse()?,
            attrs: parse_attrs(input)?,
        }),
        "conv2d" | "conv1d" => Item::Conv(Box::new(parse_conv(keyword, input)?)),
        "maxpool" | "avgpool" => Item::Pool(parse_pool(keyword, input)?),
        "global_avg_pool" | "flatten" => {
            if input.peek(syn::token::Bracket) {
                return Err(input.error(format!(
                    "`{name}` takes no attributes: it has no parameters"
                )));
            }
            if name == "flatten" {
                Item::Flatten(keyword)
            } else {
                Item::GlobalAvgPool(keyword)
            }
        }
        "layer" => Item::Layer(Box::new(parse_user_layer(input)?)),
        "batchnorm" => Item::BatchNorm(keyword, parse_attrs(input)?),
        "standardize" => {
            if input.peek(syn::token::Bracket) {
                return Err(input.error(
                    "`standardize` takes no attributes: it has no trainable parameters; \
                     fit it with `net.standardize_K.fit(&samples)`",
                ));
            }
            Item::Standardize(keyword)
        }
        "repeat" => {
            check_nesting(&keyword, depth + 1)?;
            let count = Width::parse_count(input)?;
            let braced = input.peek(syn::token::Brace);
            let items = if braced {
                let content;
                braced!(content in input);
                parse_item_list(&content, depth + 1)?
            } else if input.is_empty() || input.peek(Token![,]) {
                return Err(syn::Error::new(
                    count.span,
                    format!(
                        "expected `{{ ... }}` with the layers to repeat, or one item, like \
                         `repeat {n} {{ dense 64 [relu] }}` or `repeat {n} residual {{ .. }}`",
                        n = count.value
                    ),
                ));
            } else {
                vec![parse_item(input, depth + 1, false)?]
            };
            Item::Repeat(Repeat {
                keyword,
                count,
                items,
                braced,
            })
        }
        "residual" => Item::Residual(parse_residual(keyword, input, depth)?),
        _ if Activation::from_name(&name).is_some() => {
            if input.peek(syn::token::Bracket) {
                return Err(input.error(format!(
                    "a standalone `{name}` takes no attributes; \
                     to attach it to a dense layer write `dense N [{name}]`"
                )));
            }
            Item::Activation(ActivationItem { name: keyword })
        }
        _ => {
            return Err(syn::Error::new(
                keyword.span(),
                format!(
                    "unknown item `{name}`; {}expected one of: {}",
                    crate::suggest::did_you_mean(&name, keywords),
                    keywords.join(", ")
                ),
            ))
        }
    };
    Ok(item)
}

/// `residual (OPTIONS)? { items } ACTIVATION?`, after the keyword; `depth` blocks around it.
fn parse_residual(keyword: Ident, input: ParseStream, depth: usize) -> syn::Result<Residual> {
    check_nesting(&keyword, depth + 1)?;
    if input.peek(syn::token::Bracket) {
        return Err(
            input.error("a residual block's options go in parentheses: `residual(project) { .. }`")
        );
    }
    let options = if input.peek(syn::token::Paren) {
        let content;
        parenthesized!(content in input);
        raw_attrs(&content, "options", "`residual(project)`")?
    } else {
        Vec::new()
    };
    if !input.peek(syn::token::Brace) {
        return Err(input.error(
            "expected `{ ... }` with the block's layers, like `residual { dense 64 [relu], dense 64 }`",
        ));
    }
    let content;
    braced!(content in input);
    let items = parse_item_list(&content, depth + 1)?;
    let activation = if input.is_empty() || input.peek(Token![,]) {
        None
    } else {
        let expected = format!(
            "expected an activation after the residual block's `}}` ({}), or `,`",
            ACTIVATION_NAMES.join(", ")
        );
        if !input.peek(Ident::peek_any) {
            return Err(input.error(expected));
        }
        let name = input.call(Ident::parse_any)?;
        if Activation::from_name(&name.to_string()).is_none() {
            return Err(syn::Error::new(name.span(), expected));
        }
        Some(name)
    };
    Ok(Residual {
        keyword,
        options,
        items,
        activation,
    })
}

impl Parse for Input {
    /// `64`, or `[H, W, C]` / `[L, C]`.
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(syn::token::Paren) {
            return Err(input.error(
                "a shape is written in brackets: `input [8, 8, 1]` (an image), `input [100, 2]` \
                 (a sequence), or `input 64`",
            ));
        }
        if !input.peek(syn::token::Bracket) {
            let width: Width = input.parse()?;
            return Ok(Input {
                dims: vec![width],
                bracketed: false,
                span: width.span,
            });
        }
        let content;
        let bracket = bracketed!(content in input);
        let dims = Punctuated::<Width, Token![,]>::parse_terminated(&content)?;
        Ok(Input {
            dims: dims.into_iter().collect(),
            bracketed: true,
            span: bracket.span.join(),
        })
    }
}

/// `conv2d OC kK [sS] [same|valid] [attrs]`, after the keyword.
fn parse_conv(keyword: Ident, input: ParseStream) -> syn::Result<Conv> {
    let dims = if keyword == "conv2d" { 2 } else { 1 };
    let channels: Width = input.parse()?;
    let example = format!(
        "like `{keyword} {} k3 same [he_init, relu]`",
        channels.value
    );
    let mut kernel = None;
    let mut stride = None;
    let mut padding = None;
    while input.peek(Ident::peek_any) {
        let option = input.call(Ident::parse_any)?;
        let text = option.to_string();
        if let Some(k) = sized_option(&option, 'k')? {
            if kernel.replace(k).is_some() {
                return Err(syn::Error::new(
                    option.span(),
                    "the kernel size is given twice",
                ));
            }
        } else if let Some(s) = sized_option(&option, 's')? {
            if stride.replace(s).is_some() {
                return Err(syn::Error::new(option.span(), "the stride is given twice"));
            }
        } else if text == "same" || text == "valid" {
            let value = if text == "same" {
                Padding::Same
            } else {
                Padding::Valid
            };
            if padding.replace((value, option.span())).is_some() {
                return Err(syn::Error::new(
                    option.span(),
                    format!("the padding is given twice: `{keyword}` takes one of `same`, `valid`"),
                ));
            }
        } else {
            return Err(syn::Error::new(
                option.span(),
                format!(
                    "unknown `{keyword}` option `{text}`; expected the kernel size `kK`, the \
                     stride `sS`, `same` or `valid` padding, then `[attributes]`, {example}"
                ),
            ));
        }
    }
    let Some(kernel) = kernel else {
        return Err(syn::Error::new(
            channels.span,
            format!("expected the kernel size after the channel count, {example}"),
        ));
    };
    Ok(Conv {
        keyword,
        dims,
        channels,
        kernel,
        stride,
        padding,
        attrs: parse_attrs(input)?,
    })
}

/// `maxpool K` or `maxpool kK [sS]`, after the keyword; the stride defaults to the kernel.
fn parse_pool(keyword: Ident, input: ParseStream) -> syn::Result<Pool> {
    let max = keyword == "maxpool";
    let kernel = if input.peek(Lit) {
        input.parse()?
    } else {
        let expected =
            || format!("expected the window size, like `{keyword} 2` or `{keyword} k3 s2`");
        if !input.peek(Ident::peek_any) {
            return Err(input.error(expected()));
        }
        let option = input.call(Ident::parse_any)?;
        match sized_option(&option, 'k')? {
            Some(k) => k,
            None => return Err(syn::Error::new(option.span(), expected())),
        }
    };
    let stride = if input.peek(Ident::peek_any) {
        let option = input.call(Ident::parse_any)?;
        match sized_option(&option, 's')? {
            Some(s) => Some(s),
            None => {
                return Err(syn::Error::new(
                    option.span(),
                    format!("expected the stride, like `{keyword} k3 s2`, or `,`"),
                ))
            }
        }
    } else {
        None
    };
    if input.peek(syn::token::Bracket) {
        return Err(input.error(format!("`{keyword}` takes no attributes")));
    }
    Ok(Pool {
        keyword,
        max,
        kernel,
        stride,
    })
}

/// `k3` or `s2`: the number after `prefix`, or `None` for another identifier.
fn sized_option(option: &Ident, prefix: char) -> syn::Result<Option<Width>> {
    let text = option.to_string();
    if !is_sized_option(&text, prefix) {
        return Ok(None);
    }
    match text[prefix.len_utf8()..].parse() {
        Ok(value) => Ok(Some(Width {
            value,
            span: option.span(),
        })),
        Err(_) => Err(syn::Error::new(
            option.span(),
            format!("`{text}` is too large"),
        )),
    }
}

impl Parse for Width {
    /// A layer's width: a whole number (`0` is rejected by `check`, with the layer's name).
    fn parse(input: ParseStream) -> syn::Result<Self> {
        Width::parse_number(input, "width")
    }
}

impl Width {
    /// `repeat`'s count.
    fn parse_count(input: ParseStream) -> syn::Result<Self> {
        Width::parse_number(input, "count")
    }

    /// An unsuffixed whole number; `what` ("width") names it in errors. syn reads `-2` as
    /// one negative literal, which is reported here, on the literal, like `2.5` or `64u8`.
    fn parse_number(input: ParseStream, what: &str) -> syn::Result<Self> {
        if let Some(name) = constant_name(input) {
            // A constant's name: the shapes are worked out here, before it has a value.
            return Err(input.error(format!(
                "a {what} is a whole number written out, like `64`: `network!` works out every \
                 shape while it expands, before a constant such as `{name}` has a value; write \
                 the number"
            )));
        }
        if !input.peek(Lit) {
            return Err(input.error(format!("expected a {what}: a whole number, like `64`")));
        }
        let start = input.cursor();
        let lit = input.parse::<Lit>()?;
        // On all of `-2`: the negative literal's own span is the `-`'s.
        let written = tokens_between(start, input.cursor());
        let not_a_number = |found: &dyn std::fmt::Display| {
            syn::Error::new_spanned(
                &written,
                format!("a {what} is a whole number of at least 1, found `{found}`"),
            )
        };
        match &lit {
            // `4x4` lexes as the number 4 with the suffix `x4`: a shape written as text.
            Lit::Int(int) if dimensions(int).is_some() => {
                let dims = dimensions(int).unwrap_or_default();
                let here = match dims.len() {
                    2 => format!("`input [{}, {}, 1]` for one channel", dims[0], dims[1]),
                    _ => format!("`input [{}]`", dims.join(", ")),
                };
                Err(syn::Error::new(
                    int.span(),
                    format!(
                        "a {what} is one whole number, not `{}{}`: a shape is written in \
                         brackets, `input [H, W, C]` for an image (here {here}) and \
                         `input [L, C]` for a sequence",
                        int.base10_digits(),
                        int.suffix()
                    ),
                ))
            }
            Lit::Int(int) if !int.suffix().is_empty() => Err(syn::Error::new(
                int.span(),
                format!(
                    "write the {what} without a suffix: `{}`",
                    int.base10_digits()
                ),
            )),
            Lit::Int(int) => match int.base10_parse() {
                // Arithmetic (`2 * 8`) would otherwise read as a missing comma. `->` follows
                // a user layer's input width.
                Ok(_) if arithmetic_follows(input) => Err(input.error(format!(
                    "a {what} is one whole number: `network!` does not evaluate `{}` followed \
                     by an operator; write the result, like `64`",
                    int.base10_digits()
                ))),
                Ok(value) => Ok(Width {
                    value,
                    span: int.span(),
                }),
                // All digits, yet unparsable: a whole number too large, not a malformed one.
                Err(_) if int.base10_digits().bytes().all(|b| b.is_ascii_digit()) => {
                    Err(syn::Error::new_spanned(
                        &written,
                        format!(
                            "a {what} of {} is too large: it must fit a usize",
                            int.base10_digits()
                        ),
                    ))
                }
                Err(_) => Err(not_a_number(&int.base10_digits())),
            },
            other => Err(not_a_number(&other.to_token_stream())),
        }
    }
}

/// The path at `input` when it could name a constant (`HIDDEN`, `crate::DEPTH`): not a Rust
/// keyword or literal (`true`), and not one of the macro's own words (an item, attribute or
/// option written where a number belongs, as in `repeat residual { .. }`).
fn constant_name(input: ParseStream) -> Option<String> {
    let path_start = input.peek(Ident)
        || input.peek(Token![::])
        || input.peek(Token![crate])
        || input.peek(Token![self])
        || input.peek(Token![super])
        || input.peek(Token![Self]);
    if input.peek(Lit) || !path_start {
        return None;
    }
    let path = input.fork().call(syn::Path::parse_mod_style).ok()?;
    if let Some(word) = path.get_ident().map(Ident::to_string) {
        let sized = |prefix| is_sized_option(&word, prefix);
        let ours = ITEM_KEYWORDS.contains(&word.as_str())
            || attr::dense_attribute_names().contains(&word.as_str())
            || ["same", "valid", "frozen", "project", "residual"].contains(&word.as_str())
            || sized('k')
            || sized('s');
        if ours {
            return None;
        }
    }
    Some(path.to_token_stream().to_string().replace(' ', ""))
}

/// Whether `word` is a sized convolution or pooling option, `prefix` then digits (`k3`, `s2`).
fn is_sized_option(word: &str, prefix: char) -> bool {
    word.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether an arithmetic operator comes next (not `->`).
fn arithmetic_follows(input: ParseStream) -> bool {
    !input.peek(Token![->])
        && (input.peek(Token![*])
            || input.peek(Token![+])
            || input.peek(Token![-])
            || input.peek(Token![/])
            || input.peek(Token![%])
            || input.peek(Token![<<]))
}

/// The tokens from `from` up to `to`, a later position in the same buffer.
fn tokens_between(mut from: Cursor, to: Cursor) -> TokenStream {
    let mut tokens = TokenStream::new();
    while from != to {
        let Some((tt, next)) = from.token_tree() else {
            break;
        };
        tokens.extend([tt]);
        from = next;
    }
    tokens
}

/// Comma-separated bare names: a layer's `[he_init, relu]` or a residual block's
/// `(project)`. `what` ("attributes") and `example` name them in errors.
fn raw_attrs(input: ParseStream, what: &str, example: &str) -> syn::Result<Vec<RawAttr>> {
    let mut attrs = Vec::new();
    while !input.is_empty() {
        if !input.peek(Ident::peek_any) {
            let found: TokenTree = input.parse()?;
            return Err(syn::Error::new(
                found.span(),
                format!("{what} are bare names, like {example}; found `{found}`"),
            ));
        }
        let start = input.cursor();
        let name = input.call(Ident::parse_any)?;
        if input.peek(syn::token::Paren) {
            return Err(input.error(format!("attribute `{name}` takes no arguments")));
        }
        if input.peek(Ident::peek_any) {
            // Two names with no comma between them (`[he_init relu]`).
            return Err(input.error(format!("expected `,` between {what}, like {example}")));
        }
        if !input.is_empty() && !input.peek(Token![,]) {
            // The rest of this entry, up to the next comma: a path, a value, ...
            while !input.is_empty() && !input.peek(Token![,]) {
                input.parse::<TokenTree>()?;
            }
            let written = tokens_between(start, input.cursor());
            let found = written.to_string().replace(' ', "");
            return Err(syn::Error::new_spanned(
                written,
                format!("{what} are bare names, like {example}; found `{found}`"),
            ));
        }
        attrs.push(RawAttr { name });
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(attrs)
}

/// An optional `[a, b, c]` after a layer.
fn parse_attrs(input: ParseStream) -> syn::Result<Vec<RawAttr>> {
    if !input.peek(syn::token::Bracket) {
        return Ok(Vec::new());
    }
    let content;
    bracketed!(content in input);
    raw_attrs(&content, "attributes", "`[he_init, relu]`")
}

/// `layer path::Type<Args> (IN -> OUT) [attrs]`, after the keyword.
///
/// The type is everything up to the parenthesised widths; it is cut out by hand because
/// syn would read `Type (..)` as the parenthesised arguments of an `Fn`-like path.
fn parse_user_layer(input: ParseStream) -> syn::Result<UserLayer> {
    let mut ty_tokens = TokenStream::new();
    let mut angle_depth = 0usize;
    let mut last_span = input.span();
    loop {
        if input.is_empty() {
            return Err(syn::Error::new(
                last_span,
                "expected the layer's widths after its type, like `layer my_mod::Scale (64 -> 64)`",
            ));
        }
        let at_widths = angle_depth == 0
            && input.cursor().group(Delimiter::Parenthesis).is_some()
            && !ty_tokens.is_empty();
        if at_widths {
            break;
        }
        let tt: TokenTree = input.parse()?;
        last_span = tt.span();
        angle_depth = nesting(angle_depth, &tt);
        ty_tokens.extend([tt]);
    }
    let ty: Type = syn::parse2(ty_tokens)?;
    let content;
    let paren = parenthesized!(content in input);
    let inputs = content.parse()?;
    content.parse::<Token![->]>()?;
    let outputs = content.parse()?;
    if !content.is_empty() {
        return Err(content.error("expected `(IN -> OUT)`, like `(64 -> 64)`"));
    }
    Ok(UserLayer {
        ty,
        inputs,
        outputs,
        widths_span: paren.span.join(),
        attrs: parse_attrs(input)?,
    })
}

/// The dimensions of a shape written as `4x4` or `8x8x3` (a number and an `x4` suffix):
/// `["4", "4"]`, or `None` for any other literal.
fn dimensions(int: &syn::LitInt) -> Option<Vec<String>> {
    let rest = int.suffix().strip_prefix('x')?;
    let dims: Vec<&str> = rest.split('x').collect();
    let digits = |d: &&str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    dims.iter().all(digits).then(|| {
        std::iter::once(int.base10_digits().to_string())
            .chain(dims.iter().map(|d| d.to_string()))
            .collect()
    })
}
