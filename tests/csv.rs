//! Property-based fuzzing of the CSV reader: arbitrary bytes never panic, and a single fault
//! planted in an otherwise valid file is reported at its exact line and field.

use gradflow::data::{CsvOptions, DataError, Dataset};
use proptest::prelude::*;

/// Proptest cases per property (recorded in the README).
const FUZZ_CASES: u32 = 10_000;
const OPTS: CsvOptions = CsvOptions {
    header: false,
    classes: 3,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: FUZZ_CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A fault to plant in one field of one row.
#[derive(Clone, Debug)]
enum Fault {
    Word,
    Nan,
    Infinite,
    LabelOutOfRange(usize),
    NegativeLabel,
    MissingField,
    ExtraField,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::Word),
        Just(Fault::Nan),
        Just(Fault::Infinite),
        (3usize..1000).prop_map(Fault::LabelOutOfRange),
        Just(Fault::NegativeLabel),
        Just(Fault::MissingField),
        Just(Fault::ExtraField),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes: a dataset of finite features and valid labels, or an error; never a panic.
    #[test]
    fn fuzz_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(d) = Dataset::<2>::from_reader(&bytes[..], "fuzz.csv", OPTS) {
            prop_assert!(d.features.iter().flatten().all(|v| v.is_finite()));
            prop_assert!(d.labels.iter().all(|&l| l < 3));
            prop_assert_eq!(d.features.len(), d.labels.len());
        }
    }

    /// Text made of CSV-like pieces, closer to real files than random bytes.
    #[test]
    fn fuzz_csv_like_text_never_panics(pieces in proptest::collection::vec(
        prop_oneof![
            Just("1"), Just("-2.5"), Just("0"), Just("2"), Just(","), Just("\n"), Just("\r\n"),
            Just("NaN"), Just("inf"), Just("1e39"), Just(" "), Just("x"), Just("3"), Just("é"),
        ],
        0..64,
    )) {
        let text: String = pieces.concat();
        let _ = Dataset::<2>::from_reader(text.as_bytes(), "fuzz.csv", OPTS);
    }

    /// A valid file with one fault: the error names the file, the faulty line and field.
    #[test]
    fn fuzz_a_planted_fault_is_located(
        rows in proptest::collection::vec(([-1e6f32..1e6, -1e6f32..1e6], 0usize..3), 1..20),
        at in any::<prop::sample::Index>(),
        column in 0usize..3,
        fault in fault(),
    ) {
        let bad_row = at.index(rows.len());
        let mut text = String::new();
        let mut expected_column = column + 1;
        for (r, (x, y)) in rows.iter().enumerate() {
            let mut fields = vec![x[0].to_string(), x[1].to_string(), y.to_string()];
            if r == bad_row {
                match &fault {
                    Fault::Word => fields[column] = "abc".into(),
                    Fault::Nan => fields[column.min(1)] = "NaN".into(),
                    Fault::Infinite => fields[column.min(1)] = "-inf".into(),
                    Fault::LabelOutOfRange(l) => fields[2] = l.to_string(),
                    Fault::NegativeLabel => fields[2] = "-1".into(),
                    Fault::MissingField => { fields.pop(); }
                    Fault::ExtraField => fields.push("7".into()),
                }
                expected_column = match &fault {
                    Fault::Nan | Fault::Infinite => column.min(1) + 1,
                    Fault::LabelOutOfRange(_) | Fault::NegativeLabel => 3,
                    Fault::MissingField => 3,
                    Fault::ExtraField => 4,
                    Fault::Word => column + 1,
                };
            }
            text += &fields.join(",");
            text += "\n";
        }
        let err = Dataset::<2>::from_reader(text.as_bytes(), "planted.csv", OPTS).unwrap_err();
        let (line, col) = match &err {
            DataError::FieldCount { line, column, .. }
            | DataError::NotANumber { line, column, .. }
            | DataError::BadLabel { line, column, .. } => (*line, *column),
            other => return Err(TestCaseError::fail(format!("unexpected error {other}"))),
        };
        prop_assert_eq!((line, col), (bad_row + 1, expected_column), "{}", err);
        let message = err.to_string();
        prop_assert!(message.starts_with(&format!("planted.csv: line {}, field {}", bad_row + 1, expected_column)), "{}", message);
    }
}
