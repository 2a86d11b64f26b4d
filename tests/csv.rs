//! Property-based fuzzing of the CSV reader: arbitrary bytes never panic, and a single fault
//! planted in an otherwise valid file is reported at its exact line and field, whichever
//! column holds the label; and the label column option, on files.

use gradflow::data::{CsvOptions, DataError, Dataset, Label};
use proptest::prelude::*;

/// Proptest cases per property (recorded in the README).
const FUZZ_CASES: u32 = 10_000;
const OPTS: CsvOptions = CsvOptions::new(3);

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

/// Any label column for two features, including ones past the row (an error, not a panic).
fn label() -> impl Strategy<Value = Label> {
    prop_oneof![
        Just(Label::First),
        Just(Label::Last),
        (0usize..5).prop_map(Label::Column),
        Just(Label::Column(usize::MAX)),
    ]
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
    fn fuzz_arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        label in label(),
    ) {
        if let Ok(d) = Dataset::<2>::from_reader(&bytes[..], "fuzz.csv", OPTS.label(label)) {
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
    ), label in label()) {
        let text: String = pieces.concat();
        if let Err(e) = Dataset::<2>::from_reader(text.as_bytes(), "fuzz.csv", OPTS.label(label)) {
            let _ = e.to_string();
        }
    }

    /// A valid file with one fault: the error names the file, the faulty line and field, with
    /// the label in any of the three columns.
    #[test]
    fn fuzz_a_planted_fault_is_located(
        rows in proptest::collection::vec(([-1e6f32..1e6, -1e6f32..1e6], 0usize..3), 1..20),
        at in any::<prop::sample::Index>(),
        column in 0usize..3,
        label_at in 0usize..3,
        fault in fault(),
    ) {
        let bad_row = at.index(rows.len());
        // The field (0-based) of feature `column.min(1)`, the label's field skipped.
        let feature = column.min(1) + usize::from(column.min(1) >= label_at);
        let mut text = String::new();
        let mut expected_column = column + 1;
        for (r, (x, y)) in rows.iter().enumerate() {
            let mut fields = vec![x[0].to_string(), x[1].to_string()];
            fields.insert(label_at, y.to_string());
            if r == bad_row {
                match &fault {
                    Fault::Word => fields[column] = "abc".into(),
                    Fault::Nan => fields[feature] = "NaN".into(),
                    Fault::Infinite => fields[feature] = "-inf".into(),
                    Fault::LabelOutOfRange(l) => fields[label_at] = l.to_string(),
                    Fault::NegativeLabel => fields[label_at] = "-1".into(),
                    Fault::MissingField => { fields.pop(); }
                    Fault::ExtraField => fields.push("7".into()),
                }
                expected_column = match &fault {
                    Fault::Nan | Fault::Infinite => feature + 1,
                    Fault::LabelOutOfRange(_) | Fault::NegativeLabel => label_at + 1,
                    Fault::MissingField => 3,
                    Fault::ExtraField => 4,
                    Fault::Word => column + 1,
                };
            }
            text += &fields.join(",");
            text += "\n";
        }
        let options = OPTS.label(Label::Column(label_at));
        let err = Dataset::<2>::from_reader(text.as_bytes(), "planted.csv", options).unwrap_err();
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

/// A file written for one test, in a directory of its own that is removed when the value is
/// dropped.
struct Written {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl std::ops::Deref for Written {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

impl AsRef<std::path::Path> for Written {
    fn as_ref(&self) -> &std::path::Path {
        &self.path
    }
}

/// Writes `text` to a file of its own for one test.
fn write(name: &str, text: &str) -> Written {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    Written { _dir: dir, path }
}

/// The same three samples laid out with the label first, in each middle column and last:
/// every layout reads to the same data set, the features in their order.
#[test]
fn every_label_column_reads_the_same_samples() {
    let rows = [
        ([1.5, -2.0, 3.0], 2),
        ([4.0, 5.0, -6.25], 0),
        ([7.0, 8.0, 9.0], 1),
    ];
    let expected = Dataset::<3> {
        features: rows.iter().map(|r| r.0).collect(),
        labels: rows.iter().map(|r| r.1).collect(),
        classes: 3,
    };
    for at in 0..=3 {
        let mut text = String::from("f,f,f\n");
        for (x, y) in &rows {
            let mut fields: Vec<String> = x.iter().map(f32::to_string).collect();
            fields.insert(at, y.to_string());
            text += &fields.join(",");
            text += "\n";
        }
        let path = write(&format!("label{at}.csv"), &text);
        let options = OPTS.header(true).label(Label::Column(at));
        let d = Dataset::<3>::load_csv(&path, options).unwrap();
        assert_eq!(d, expected, "label in column {at}");
        if at == 0 {
            let first = Dataset::<3>::load_csv(&path, options.label(Label::First)).unwrap();
            assert_eq!(first, expected);
        }
        if at == 3 {
            // `Last` is the default.
            let last = Dataset::<3>::load_csv(&path, OPTS.header(true)).unwrap();
            assert_eq!(last, expected);
            assert_eq!(OPTS.label, Label::Last);
        }
    }
}

/// A label column past the row's fields is an error naming the line, not a panic; a row of
/// the wrong length still gets the field count error, which counts features without the label.
#[test]
fn a_label_column_past_the_row_is_an_error() {
    let path = write("past.csv", "x,y,label\n\n1,2,0\n");
    for index in [3, 4, 1000, usize::MAX] {
        let options = OPTS.header(true).label(Label::Column(index));
        let err = Dataset::<2>::load_csv(&path, options).unwrap_err();
        assert!(
            matches!(err, DataError::LabelColumn { line: 3, index: i, found: 3, .. } if i == index),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        assert!(
            message.ends_with(&format!(
                ": line 3: the label column index {index} is past the row's 3 fields (indices 0..3)"
            )),
            "{message}"
        );
    }
    let short = write("short.csv", "0,1,2\n1,2\n");
    let err = Dataset::<2>::load_csv(&short, OPTS.label(Label::First)).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "line 2, field 3: expected 3 comma-separated fields (2 features and a label), found 2"
        ),
        "{err}"
    );
}
