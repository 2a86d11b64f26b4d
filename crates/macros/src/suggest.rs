//! "Did you mean" for a misspelt item or attribute name.

/// `"did you mean `he_init`? "` when one of `known` is close to `name` (the same letters in
/// another case, or an edit or two away, by optimal string alignment distance), else `""`.
pub fn did_you_mean(name: &str, known: &[&str]) -> String {
    let lower = name.to_lowercase();
    // Two edits for names of 6 letters or more, one for shorter ones: `relux` -> `relu`, but
    // not `fast` -> `tanh`.
    let allowed = if name.chars().count() >= 6 { 2 } else { 1 };
    known
        .iter()
        .map(|k| (strsim::osa_distance(&lower, k), *k))
        .filter(|&(d, _)| d <= allowed)
        .min_by_key(|&(d, _)| d)
        .map_or_else(String::new, |(_, k)| format!("did you mean `{k}`? "))
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    const KNOWN: &[&str] = &[
        "he_init",
        "xavier_init",
        "relu",
        "tanh",
        "dense",
        "batchnorm",
    ];

    #[test]
    fn close_names_are_suggested_and_others_are_not() {
        assert_eq!(did_you_mean("he_int", KNOWN), "did you mean `he_init`? ");
        assert_eq!(did_you_mean("ReLU", KNOWN), "did you mean `relu`? ");
        assert_eq!(did_you_mean("relux", KNOWN), "did you mean `relu`? ");
        assert_eq!(did_you_mean("desne", KNOWN), "did you mean `dense`? ");
        assert_eq!(
            did_you_mean("batchnrom", KNOWN),
            "did you mean `batchnorm`? "
        );
        assert_eq!(did_you_mean("fast", KNOWN), "");
        assert_eq!(did_you_mean("softmax", KNOWN), "");
    }
}
