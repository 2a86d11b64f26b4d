//! Loading small tabular data sets (CSV, optionally gzip-compressed) into fixed-width samples,
//! splitting them reproducibly, and cutting shuffled mini-batches of a compile-time size.
//!
//! Each row holds `F` numbers and an integer class label; the label is the last field unless
//! [`CsvOptions::label`](CsvOptions#structfield.label) names another column ([`Label`]).
//!
//! Every problem in a file is reported with its path, line and column; nothing here panics on
//! a malformed file.

use rand::seq::SliceRandom;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::vec::Vec;
use std::{boxed::Box, fs, io, string::String};

/// A problem reading a data file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read (an error while reading names the line).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A line holds a carriage return before its end: a stray one inside a field, or the
    /// file's lines end in CR alone (old Mac style), so that the whole file would read as
    /// one line (or, with a header, be skipped as the header).
    #[error("{path}: line {line} holds a carriage return (CR) before its end: either a field holds one (remove it) or the file's lines end in CR alone (old Mac style; convert them to LF or CRLF line endings)")]
    CarriageReturn {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A row has the wrong number of fields: it must have `F + 1`, the label's wherever
    /// [`CsvOptions::label`](CsvOptions#structfield.label) puts it.
    #[error("{path}: line {line}, field {column}: expected {expected} comma-separated fields ({features} features and a label), found {found}")]
    FieldCount {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based field where the row goes wrong: the first missing field, or the first
        /// extra one.
        column: usize,
        /// Fields expected.
        expected: usize,
        /// Features expected.
        features: usize,
        /// Fields found.
        found: usize,
    },
    /// A field is not a number, or is NaN, infinite, or too large for an `f32` (beyond
    /// about ±3.4e38).
    #[error("{path}: line {line}, field {column}: `{text}` is not a finite f32 number")]
    NotANumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based field (comma-separated column) number.
        column: usize,
        /// The field's text, cut to its first [`FIELD_EXCERPT`] characters (then `…`), then
        /// escaped as `str::escape_debug` escapes it, quotes aside (`\0`, `\u{feff}`, `\\`).
        text: String,
    },
    /// The label is not an integer in `0..classes`.
    #[error(
        "{path}: line {line}, field {column}: label `{text}` is not a class index in 0..{classes}"
    )]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based field (comma-separated column) number.
        column: usize,
        /// The field's text, cut to its first [`FIELD_EXCERPT`] characters (then `…`), then
        /// escaped as `str::escape_debug` escapes it, quotes aside (`\0`, `\u{feff}`, `\\`).
        text: String,
        /// Number of classes.
        classes: usize,
    },
    /// A line is not valid UTF-8 text (a binary file, or another encoding).
    #[error("{path}: line {line}, field {column}: not UTF-8 text (byte {byte} of the line)")]
    NotText {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based field (comma-separated column) holding the first invalid byte.
        column: usize,
        /// 1-based position of that byte in the line.
        byte: usize,
    },
    /// [`Label::Column`] names a column past the end of a row that has the expected `F + 1`
    /// fields (so past the end of every valid row): the index is 0-based and at most `F`.
    #[error(
        "{path}: line {line}: the label column index {index} is past the row's {found} fields \
         (indices 0..{found})"
    )]
    LabelColumn {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The 0-based column index [`Label::Column`] gave.
        index: usize,
        /// Fields the row has.
        found: usize,
    },
    /// `CsvOptions::classes` is 0, so no label could be valid.
    #[error(
        "{path}: CsvOptions::classes is 0; a classification data set needs at least one class"
    )]
    NoClasses {
        /// The file.
        path: PathBuf,
    },
    /// The file holds no samples.
    #[error("{path}: no samples")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// The first two bytes of gzip data.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A read error, with the 1-based line being read when it happened.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {source}")]
struct ReadAtLine {
    line: usize,
    source: io::Error,
}

/// Which column of a CSV row holds the class label; the other `F` columns are the features,
/// kept in the order they appear in the row.
///
/// ```
/// use gradflow::data::{CsvOptions, Dataset, Label};
///
/// // The label first, as in MNIST's CSV export.
/// let text = "label,a,b,c\n7,0.1,0.2,0.3\n2,0.4,0.5,0.6\n";
/// let options = CsvOptions::new(10).header(true).label(Label::First);
/// let data = Dataset::<3>::from_reader(text.as_bytes(), "mnist.csv", options).unwrap();
/// assert_eq!(data.labels, [7, 2]);
/// assert_eq!(data.features, [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]);
///
/// // The label in a middle column: the features on either side keep their order.
/// let text = "1.5,2.5,1,3.5\n";
/// let options = CsvOptions::new(3).label(Label::Column(2));
/// let data = Dataset::<3>::from_reader(text.as_bytes(), "mid.csv", options).unwrap();
/// assert_eq!((data.features[0], data.labels[0]), ([1.5, 2.5, 3.5], 1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Label {
    /// The first field (the same as `Column(0)`).
    First,
    /// The last field, after the `F` features (the same as `Column(F)`); the default.
    #[default]
    Last,
    /// The field at this 0-based index, from 0 to `F` (errors count fields from 1, so
    /// `Column(2)` is reported as field 3). An index past `F` is a
    /// [`DataError::LabelColumn`] at the first data row.
    Column(usize),
}

impl Label {
    /// The 0-based index of the label in a row of `features + 1` fields.
    const fn index(self, features: usize) -> usize {
        match self {
            Label::First => 0,
            Label::Last => features,
            Label::Column(index) => index,
        }
    }
}

/// How to read a CSV file: each row is `F` numbers and an integer label, in the column
/// `label` names (the last by default).
///
/// [`CsvOptions::new`] gives the usual layout (no header, the label last); the other fields
/// are set with the methods of the same name or with struct update syntax:
/// `CsvOptions { header: true, ..CsvOptions::new(2) }`. There is no `Default`: no number of
/// classes is right for every file, and 0 is refused ([`DataError::NoClasses`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// Skip the first line, unread (a header may be in any encoding); it is skipped even if
    /// it holds numbers.
    pub header: bool,
    /// Number of classes; labels must lie in `0..classes`.
    pub classes: usize,
    /// The column holding the label ([`Label::Last`] unless set).
    pub label: Label,
}

impl CsvOptions {
    /// `classes` classes, no header line, the label in the last column.
    pub const fn new(classes: usize) -> Self {
        Self {
            header: false,
            classes,
            label: Label::Last,
        }
    }
    /// Sets whether the first line is a header, skipped unread.
    pub const fn header(self, header: bool) -> Self {
        Self { header, ..self }
    }
    /// Sets the column holding the label.
    pub const fn label(self, label: Label) -> Self {
        Self { label, ..self }
    }
}

/// Samples of `F` features with their class labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<const F: usize> {
    /// One row per sample.
    pub features: Vec<[f32; F]>,
    /// The class of each sample.
    pub labels: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
}

/// `floor(len * fraction)` for a `fraction` in `[0, 1]`, except that a product within rounding
/// error of a whole number is that number: the fraction was meant as a decimal. The binary
/// fraction is within half a unit in the last place of the decimal one and the product adds
/// half another, so four units (relative `4 * f64::EPSILON`) cover them and no more: 1000 x
/// 0.9999999995 (999.9999995) must stay 999.
fn test_rows(len: usize, fraction: f64) -> usize {
    let product = len as f64 * fraction;
    let nearest = product.round();
    if (product - nearest).abs() <= 4.0 * f64::EPSILON * product.max(1.0) {
        nearest as usize
    } else {
        product.floor() as usize
    }
}

impl<const F: usize> Dataset<F> {
    /// Reads a CSV file (gzip-compressed when its name ends in `.gz`): rows of `F + 1`
    /// comma-separated fields, the label in the column `options.label` names and the `F`
    /// features, in row order, in the others.
    pub fn load_csv(path: impl AsRef<Path>, options: CsvOptions) -> Result<Self, DataError> {
        let path = path.as_ref();
        // A directory opens on Unix, where its first read would fail as "line 1: Is a
        // directory", and is refused by `open` on Windows as "Access is denied".
        let directory = || DataError::Io {
            path: path.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::IsADirectory,
                "this is a directory, not a CSV file",
            ),
        };
        let file = match fs::File::open(path) {
            Ok(file) if file.metadata().is_ok_and(|m| m.is_dir()) => return Err(directory()),
            Ok(file) => file,
            Err(_) if fs::metadata(path).is_ok_and(|m| m.is_dir()) => return Err(directory()),
            Err(source) => {
                return Err(DataError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let gz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        let reader: Box<dyn Read> = if gz {
            let mut file = BufReader::new(file);
            let start = file.fill_buf().map_err(|source| DataError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            // The decoder's own message for a file that is not gzip is "unexpected end of
            // file" or "invalid gzip header", which does not say what is wrong.
            if !start.starts_with(&GZIP_MAGIC) {
                return Err(DataError::Io {
                    path: path.to_path_buf(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the name ends in .gz but the file is not gzip data (it does not \
                         start with the bytes 1f 8b)",
                    ),
                });
            }
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        Self::from_reader(BufReader::new(reader), path, options)
    }

    /// Reads CSV rows from `reader`, laid out as for [`Dataset::load_csv`]; `path` names the
    /// source in errors.
    pub fn from_reader(
        mut reader: impl BufRead,
        path: impl AsRef<Path>,
        options: CsvOptions,
    ) -> Result<Self, DataError> {
        let path = path.as_ref();
        if options.classes == 0 {
            return Err(DataError::NoClasses {
                path: path.to_path_buf(),
            });
        }
        let mut data = Dataset {
            features: Vec::new(),
            labels: Vec::new(),
            classes: options.classes,
        };
        let mut bytes = Vec::new();
        for index in 0.. {
            bytes.clear();
            let line_no = index + 1;
            let read = reader
                .read_until(b'\n', &mut bytes)
                .map_err(|source| DataError::Io {
                    path: path.to_path_buf(),
                    // The line says how far the file was good (a `.gz` cut short).
                    source: io::Error::new(
                        source.kind(),
                        ReadAtLine {
                            line: line_no,
                            source,
                        },
                    ),
                })?;
            if read == 0 {
                break;
            }
            let content = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if content.contains(&b'\r') && !bytes.starts_with(&GZIP_MAGIC) {
                return Err(DataError::CarriageReturn {
                    path: path.to_path_buf(),
                    line: line_no,
                });
            }
            // Compressed data is not text: say what it is rather than "not UTF-8 text" (the
            // gzip magic bytes 1f 8b are no UTF-8 character, so no text file starts so).
            if index == 0 && bytes.starts_with(&GZIP_MAGIC) {
                return Err(DataError::Io {
                    path: path.to_path_buf(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the data is gzip-compressed (it starts with the bytes 1f 8b): name \
                         the file *.gz for load_csv, or decompress it before from_reader",
                    ),
                });
            }
            // A byte-order mark (spreadsheet exports write one) is not part of the first field;
            // byte positions in errors still count it.
            let mut skipped = 0;
            if index == 0 && bytes.starts_with(b"\xEF\xBB\xBF") {
                bytes.drain(..3);
                skipped = 3;
            }
            // The header is skipped unread: it may be in another encoding (a Latin-1 export).
            if index == 0 && options.header {
                continue;
            }
            let line = std::str::from_utf8(&bytes).map_err(|e| {
                let at = e.valid_up_to();
                DataError::NotText {
                    path: path.to_path_buf(),
                    line: line_no,
                    column: 1 + bytes[..at].iter().filter(|&&b| b == b',').count(),
                    byte: skipped + at + 1,
                }
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let (x, y) = parse_row::<F>(line, line_no, options, path)?;
            data.features.push(x);
            data.labels.push(y);
        }
        if data.features.is_empty() {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(data)
    }

    /// The samples as the training loop takes them.
    pub fn samples(&self) -> crate::nn::train::Samples<'_, [f32; F]> {
        crate::nn::train::Samples::new(&self.features, &self.labels)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// The number of rows, checked: the fields are public, and rows would otherwise be
    /// indexed past the shorter of them.
    fn rows(&self) -> usize {
        assert_eq!(
            self.features.len(),
            self.labels.len(),
            "Dataset: {} feature rows but {} labels",
            self.features.len(),
            self.labels.len()
        );
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Applies `f` to every feature value (for example scaling pixel counts to `[0, 1]`).
    pub fn map_features(mut self, f: impl Fn(f32) -> f32) -> Self {
        for row in &mut self.features {
            for v in row.iter_mut() {
                *v = f(*v);
            }
        }
        self
    }

    /// Shuffles the rows with a [`crate::Rng`] seeded by `seed` and returns
    /// `(train, test)`, the test set being the last `floor(len * test_fraction)` rows, the
    /// product taken as the decimal fraction means it: 0.29 of 100 rows is 29 (in binary
    /// floating point, 100 x 0.29 is 28.999999999999996).
    /// `test_fraction` is clamped to `[0, 1]` (infinities included); NaN gives no test rows.
    /// `split(42, 0.2)` is the split the project's examples and tests use.
    ///
    /// # Panics
    /// If `features` and `labels` differ in length.
    pub fn split(&self, seed: u64, test_fraction: f64) -> (Self, Self) {
        let mut order: Vec<usize> = (0..self.rows()).collect();
        order.shuffle(&mut crate::rng(seed));
        let fraction = if test_fraction.is_nan() {
            0.0
        } else {
            test_fraction.clamp(0.0, 1.0)
        };
        let n_test = test_rows(self.len(), fraction);
        let (train, test) = order.split_at(self.len() - n_test);
        (self.select(train), self.select(test))
    }

    fn select(&self, rows: &[usize]) -> Self {
        Dataset {
            features: rows.iter().map(|&i| self.features[i]).collect(),
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        }
    }

    /// Shuffled mini-batches of exactly `B` samples; the last `len % B` samples of each
    /// shuffle are left out (they take part in other epochs, under other shuffles). No
    /// batches for `B == 0`, nor for a set of fewer than `B` samples: a loop over them trains
    /// on nothing, where `fit` refuses such a set (`TrainError::TooFewSamples`), so check
    /// `rows() >= B` first in a loop of your own. The batches are written in place on the heap, never built on
    /// the stack, so a batch of any size fits (784 features by 2048 samples is 6.4 MB).
    ///
    /// # Panics
    /// If `features` and `labels` differ in length.
    pub fn batches<const B: usize>(
        &self,
        rng: &mut crate::Rng,
    ) -> Vec<([[f32; F]; B], [usize; B])> {
        let mut order: Vec<usize> = (0..self.rows()).collect();
        order.shuffle(rng);
        if B == 0 {
            return Vec::new();
        }
        let mut batches: Vec<([[f32; F]; B], [usize; B])> =
            bytemuck::allocation::zeroed_vec(order.len() / B);
        for ((x, y), rows) in batches.iter_mut().zip(order.chunks_exact(B)) {
            for ((sample, label), &row) in x.iter_mut().zip(y.iter_mut()).zip(rows) {
                sample.copy_from_slice(&self.features[row]);
                *label = self.labels[row];
            }
        }
        batches
    }
}

/// Fraction of `data` that `net` classifies correctly (NaN for an empty set).
pub fn accuracy<N, const F: usize>(net: &N, data: &Dataset<F>) -> f64
where
    N: crate::nn::Network<f32, Input = [f32; F]>,
    N::Output: AsRef<[f32]>,
{
    crate::nn::train::accuracy(net, data.samples())
}

/// How many characters of a bad field an error quotes: a field of a megabyte would otherwise
/// make a megabyte of message.
pub const FIELD_EXCERPT: usize = 40;

/// `text`, or its first [`FIELD_EXCERPT`] characters and `…` when it is longer, escaped as
/// `str::escape_debug` escapes it, so the message shows what is there: what a terminal would
/// not show (a NUL, an escape, a byte-order mark inside the file, a combining mark with
/// nothing to combine with) as `\0`, `\u{1b}`, `\u{feff}`, and a backslash as `\\`, so that
/// `2\0` typed out reads differently from `2` and a NUL. Quotes are left as they are, and
/// combining marks after a letter (a decomposed `é`, Devanagari) print as text.
fn excerpt(text: &str) -> String {
    let (kept, cut) = match text.char_indices().nth(FIELD_EXCERPT) {
        Some((cut, _)) => (&text[..cut], "…"),
        None => (text, ""),
    };
    // In `escape_debug`'s output every backslash starts an escape, so `\"` and `\'` there
    // are always escaped quotes (a quote never follows an escaped backslash unescaped).
    let escaped = kept
        .escape_debug()
        .collect::<String>()
        .replace("\\\"", "\"")
        .replace("\\'", "'");
    escaped + cut
}

/// One row: its `F` features, in row order around the label's column, and its label. The
/// first faulty field in row order is the one reported.
fn parse_row<const F: usize>(
    line: &str,
    line_no: usize,
    options: CsvOptions,
    path: &Path,
) -> Result<([f32; F], usize), DataError> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() != F + 1 {
        return Err(DataError::FieldCount {
            path: path.to_path_buf(),
            line: line_no,
            column: fields.len().min(F + 1) + 1,
            expected: F + 1,
            features: F,
            found: fields.len(),
        });
    }
    let at = options.label.index(F);
    if at >= fields.len() {
        return Err(DataError::LabelColumn {
            path: path.to_path_buf(),
            line: line_no,
            index: at,
            found: fields.len(),
        });
    }
    let classes = options.classes;
    let mut x = [0.0f32; F];
    let mut label = 0;
    // The row has `F + 1` fields and `at` is one of them: exactly `F` are left for `x`.
    let mut slots = x.iter_mut();
    for (column, text) in fields.iter().enumerate() {
        if column == at {
            label = text
                .parse::<usize>()
                .ok()
                .filter(|&l| l < classes)
                .ok_or_else(|| DataError::BadLabel {
                    path: path.to_path_buf(),
                    line: line_no,
                    column: column + 1,
                    text: excerpt(text),
                    classes,
                })?;
        } else if let Some(v) = slots.next() {
            *v = text
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| DataError::NotANumber {
                    path: path.to_path_buf(),
                    line: line_no,
                    column: column + 1,
                    text: excerpt(text),
                })?;
        }
    }
    Ok((x, label))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    /// A file written for one test, in a directory of its own that is removed when the
    /// value is dropped.
    struct Written {
        _dir: tempfile::TempDir,
        path: PathBuf,
    }

    impl std::ops::Deref for Written {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.path
        }
    }

    impl AsRef<Path> for Written {
        fn as_ref(&self) -> &Path {
            &self.path
        }
    }

    fn write(name: &str, text: &str) -> Written {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        Written { _dir: dir, path }
    }

    /// Batches far larger than a thread's stack (784 features by 2048 samples, 6.4 MB,
    /// against 1 MiB) are written in place on the heap: built on the stack, they aborted the
    /// process.
    #[test]
    fn batches_larger_than_the_stack_are_built_on_the_heap() {
        const F: usize = 784;
        let rows = 4096 + 5;
        let data = Dataset::<F> {
            features: (0..rows).map(|i| [i as f32; F]).collect(),
            labels: (0..rows).map(|i| i % 10).collect(),
            classes: 10,
        };
        let batches = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                let batches = data.batches::<2048>(&mut crate::rng(3));
                batches
                    .iter()
                    .map(|(x, y)| {
                        // Every row of a sample holds its index, and its label is index % 10.
                        x.iter().zip(y).all(|(s, &l)| {
                            s.iter().all(|&v| v == s[0]) && (s[0] as usize) % 10 == l
                        })
                    })
                    .collect::<Vec<bool>>()
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(batches, [true, true]);
    }

    const OPTS: CsvOptions = CsvOptions::new(3);

    #[test]
    fn a_long_bad_field_is_quoted_in_part() {
        let long = "9".repeat(1_000_000) + "x";
        let text = std::format!("1,{long},0\n");
        let err = Dataset::<2>::from_reader(text.as_bytes(), "long.csv", OPTS).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("long.csv: line 1, field 2: `9999"),
            "{message}"
        );
        assert!(
            message.contains("…` is not a finite f32 number"),
            "{message}"
        );
        assert!(message.len() < 200, "{} bytes", message.len());
        // A label: multi-byte characters are cut on a character boundary.
        let text = std::format!("1,2,{}\n", "é".repeat(100));
        let err = Dataset::<2>::from_reader(text.as_bytes(), "long.csv", OPTS).unwrap_err();
        let DataError::BadLabel { text, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(text, std::format!("{}…", "é".repeat(FIELD_EXCERPT)));
        // A short field is quoted whole.
        let err = Dataset::<2>::from_reader(&b"1,abc,0\n"[..], "s.csv", OPTS).unwrap_err();
        assert!(err.to_string().contains("`abc` is not"), "{err}");
    }

    /// A field holding a character a terminal does not show (a NUL, an escape sequence, a
    /// byte-order mark in the middle of a file, a combining mark that starts the field) is
    /// quoted with it escaped: printed raw, `2\0` read as `2`, which looks like a number. A
    /// backslash is escaped too, so typed-out `2\0` reads differently; quotes, accents and
    /// combining marks after a letter stay as they are.
    #[test]
    fn invisible_characters_in_a_bad_field_are_escaped() {
        let cases: [(&str, &str); 7] = [
            ("1,2\u{0},0\n", "`2\\0` is not a finite f32 number"),
            ("1,2\\0,0\n", "`2\\\\0` is not"),
            ("1,\u{1b}[31m5,0\n", "`\\u{1b}[31m5` is not"),
            ("1,\u{feff}3,0\n", "`\\u{feff}3` is not"),
            ("1,\"x'é\t,0\n", "`\"x'é` is not"),
            ("1,cafe\u{301},0\n", "`cafe\u{301}` is not"),
            ("1,\u{301}e,0\n", "`\\u{301}e` is not"),
        ];
        for (line, expected) in cases {
            let err = Dataset::<2>::from_reader(line.as_bytes(), "c.csv", OPTS).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
        let err = Dataset::<2>::from_reader(&b"1,2,\x07\n"[..], "c.csv", OPTS).unwrap_err();
        assert!(err.to_string().contains("label `\\u{7}` is not"), "{err}");
    }

    #[test]
    fn reads_rows_and_skips_header() {
        let path = write("ok.csv", "h,e,a\n1,2,0\n3.5,-4,2\n");
        let d = Dataset::<2>::load_csv(&path, OPTS.header(true)).unwrap();
        assert_eq!(d.features, [[1.0, 2.0], [3.5, -4.0]]);
        assert_eq!(d.labels, [0, 2]);
    }

    /// A `.gz` of several gzip members (`cat a.gz b.gz`, bgzip) is read to its end, as
    /// `zcat` reads it, not up to the end of the first member.
    #[test]
    fn every_member_of_a_concatenated_gzip_is_read() {
        use std::io::Write as _;
        let member = |text: &str| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(text.as_bytes()).unwrap();
            gz.finish().unwrap()
        };
        let mut bytes = member("1,2,0\n3,4,1\n");
        bytes.extend(member("5,6,2\n7,8,0\n"));
        let path = write("members.csv.gz", "");
        fs::write(&path, bytes).unwrap();
        let d = Dataset::<2>::load_csv(&path, OPTS).unwrap();
        assert_eq!(d.features, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]);
        assert_eq!(d.labels, [0, 1, 2, 0]);
    }

    /// A spreadsheet's byte-order mark is not part of the first number; a BOM anywhere else,
    /// or a second one, still is (and is reported).
    #[test]
    fn a_byte_order_mark_starts_the_file_harmlessly() {
        let d =
            Dataset::<2>::from_reader(&b"\xEF\xBB\xBF1,2,0\n3,4,1\n"[..], "bom.csv", OPTS).unwrap();
        assert_eq!(d.features, [[1.0, 2.0], [3.0, 4.0]]);
        let header = OPTS.header(true);
        let d = Dataset::<2>::from_reader(&b"\xEF\xBB\xBFa,b,y\n3,4,1\n"[..], "bom.csv", header)
            .unwrap();
        assert_eq!(d.labels, [1]);
        let err = Dataset::<2>::from_reader(&b"1,2,0\n\xEF\xBB\xBF3,4,1\n"[..], "bom.csv", OPTS)
            .unwrap_err();
        assert!(err.to_string().contains("line 2, field 1"), "{err}");
    }

    /// A `.gz` name on a file that is not gzip data says so, not "unexpected end of file".
    #[test]
    fn a_gz_name_on_plain_text_is_named_as_such() {
        for (name, text) in [("plain.csv.gz", "1,2,0\n"), ("empty.csv.gz", "")] {
            let err = Dataset::<2>::load_csv(write(name, text), OPTS).unwrap_err();
            assert!(matches!(err, DataError::Io { .. }));
            assert!(
                err.to_string().contains("is not gzip data"),
                "{name}: {err}"
            );
        }
    }

    /// The fields are public: rows that no longer pair up are a clear panic, not an index out
    /// of bounds or rows silently left out.
    #[test]
    #[should_panic(expected = "Dataset: 3 feature rows but 2 labels")]
    fn a_dataset_whose_fields_disagree_is_refused() {
        let d = Dataset::<1> {
            features: std::vec![[0.0], [1.0], [2.0]],
            labels: std::vec![0, 1],
            classes: 2,
        };
        let _ = d.batches::<2>(&mut crate::rng(1));
    }

    #[test]
    fn every_malformed_row_is_located() {
        let cases = [
            (
                "count.csv",
                "1,2,0\n1,2\n",
                "line 2, field 3: expected 3 comma-separated fields (2 features and a label), found 2",
            ),
            (
                "extra.csv",
                "1,2,0\n\n1,2,0,4,5\n",
                "line 3, field 4: expected 3 comma-separated fields (2 features and a label), found 5",
            ),
            (
                "old_mac.csv",
                "1,2,0\r3,4,1\r",
                "line 1 holds a carriage return (CR) before its end: either a field holds one",
            ),
            (
                "stray_cr.csv",
                "1,2,0\n3\r,4,1\n",
                "line 2 holds a carriage return (CR) before its end: either a field holds one \
                 (remove it) or the file's lines end in CR alone",
            ),
            (
                "inf.csv",
                "1,2,0\r\n1,-inf,1\r\n",
                "line 2, field 2: `-inf` is not a finite f32 number",
            ),
            ("blank.csv", "1,,0\n", "line 1, field 2: `` is not a finite f32 number"),
            (
                "binary.csv",
                "1,2,0\n3,4\u{0},\u{0}\n",
                "line 2, field 2: `4\\0` is not a finite f32 number",
            ),
            (
                "nan.csv",
                "1,NaN,0\n",
                "line 1, field 2: `NaN` is not a finite f32 number",
            ),
            ("word.csv", "1,x,0\n", "line 1, field 2: `x`"),
            (
                "label.csv",
                "1,2,3\n",
                "line 1, field 3: label `3` is not a class index in 0..3",
            ),
            ("neg.csv", "1,2,-1\n", "line 1, field 3: label `-1`"),
            ("empty.csv", "\n", "no samples"),
        ];
        for (name, text, expected) in cases {
            let err = Dataset::<2>::load_csv(write(name, text), OPTS)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{name}: {err}");
        }
        let no_classes = CsvOptions::new(0);
        let err = Dataset::<2>::load_csv(write("zero.csv", "1,2,0\n"), no_classes).unwrap_err();
        assert!(matches!(err, DataError::NoClasses { .. }));
        let err =
            Dataset::<2>::from_reader(&b"1,2,0\n1,\xff2,0\n"[..], "mem.csv", OPTS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mem.csv: line 2, field 2: not UTF-8 text (byte 3 of the line)"
        );
        let missing = Dataset::<2>::load_csv("/nonexistent/x.csv", OPTS).unwrap_err();
        assert!(matches!(missing, DataError::Io { .. }));
        // A directory is named as one, not as a read failing at line 1.
        let folder = tempfile::tempdir().unwrap();
        let err = Dataset::<2>::load_csv(folder.path(), OPTS).unwrap_err();
        let DataError::Io { source, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(source.kind(), io::ErrorKind::IsADirectory);
        assert!(
            err.to_string()
                .ends_with(": this is a directory, not a CSV file"),
            "{err}"
        );
    }

    #[test]
    fn split_is_reproducible_and_disjoint() {
        let d = Dataset::<1> {
            features: (0..10).map(|i| [i as f32]).collect(),
            labels: (0..10).map(|i| i % 3).collect(),
            classes: 3,
        };
        let (train, test) = d.split(42, 0.2);
        assert_eq!((train.len(), test.len()), (8, 2));
        assert_eq!(d.split(42, 0.2), (train.clone(), test.clone()));
        let mut all: Vec<f32> = train
            .features
            .iter()
            .chain(&test.features)
            .map(|x| x[0])
            .collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, (0..10).map(|i| i as f32).collect::<Vec<_>>());
        let batches = train.batches::<3>(&mut crate::rng(1));
        assert_eq!(batches.len(), 2);
        // Each batch pairs every sample with its own label, and no sample comes twice.
        let mut seen: Vec<f32> = Vec::new();
        for (x, y) in &batches {
            for (sample, &label) in x.iter().zip(y) {
                let row = train.features.iter().position(|f| f == sample).unwrap();
                assert_eq!(train.labels[row], label);
                seen.push(sample[0]);
            }
        }
        seen.sort_by(f32::total_cmp);
        seen.dedup();
        assert_eq!(seen.len(), 6);
        assert!(train.batches::<0>(&mut crate::rng(1)).is_empty());
        // Fewer samples than one batch: no batch (as documented; `fit` refuses the set).
        assert_eq!(train.rows(), 8);
        assert!(train.batches::<9>(&mut crate::rng(1)).is_empty());
        assert_eq!(train.batches::<8>(&mut crate::rng(1)).len(), 1);
        // Fractions outside [0, 1] are clamped, infinities included; NaN means no test rows.
        for (fraction, tests) in [
            (-0.5, 0),
            (f64::NEG_INFINITY, 0),
            (1.5, 10),
            (f64::INFINITY, 10),
            (f64::NAN, 0),
        ] {
            assert_eq!(d.split(42, fraction).1.len(), tests, "{fraction}");
        }
        // Decimal fractions whose binary product falls just short of a whole number.
        for (len, fraction, tests) in [
            (100, 0.29, 29),
            (100, 0.57, 57),
            (100, 0.58, 58),
            (1797, 0.2, 359),
            (569, 0.2, 113),
            (3, 0.5, 1),
            // Products short of a whole number by more than rounding: floored.
            (3000, 0.3333333333, 999),
            (1000, 0.9999999995, 999),
            (3_000_000, 0.33333333333, 999_999),
            (10, 0.7999999, 7),
        ] {
            assert_eq!(test_rows(len, fraction), tests, "{len} x {fraction}");
        }
        assert_eq!(0.29 * 100.0_f64, 28.999999999999996);
    }

    /// A header line is skipped without being decoded: a Latin-1 export's `é` in it is fine.
    #[test]
    fn a_header_in_another_encoding_is_skipped() {
        let text = &b"temp\xe9rature,x,label\n1,2,0\n"[..];
        let d = Dataset::<2>::from_reader(text, "h.csv", OPTS.header(true)).unwrap();
        assert_eq!(
            (d.features, d.labels),
            (std::vec![[1.0, 2.0]], std::vec![0])
        );
    }

    /// The byte an invalid-UTF-8 error names counts a leading byte-order mark.
    #[test]
    fn not_text_counts_bytes_from_the_start_of_the_line() {
        for (text, byte) in [(&b"1,\xff,0\n"[..], 3), (&b"\xEF\xBB\xBF1,\xff,0\n"[..], 6)] {
            let err = Dataset::<2>::from_reader(text, "x.csv", OPTS).unwrap_err();
            assert!(
                matches!(err, DataError::NotText { line: 1, column: 2, byte: b, .. } if b == byte),
                "{err:?}"
            );
        }
    }

    /// The label may be in any column; the features keep their row order around it.
    #[test]
    fn the_label_is_read_from_the_column_named() {
        let read = |text: &str, label| {
            Dataset::<3>::from_reader(text.as_bytes(), "l.csv", OPTS.label(label)).unwrap()
        };
        let first = read("2,10,20,30\n0,11,21,31\n", Label::First);
        assert_eq!(first.labels, [2, 0]);
        assert_eq!(first.features, [[10.0, 20.0, 30.0], [11.0, 21.0, 31.0]]);
        assert_eq!(
            read("2,10,20,30\n", Label::Column(0)),
            read("2,10,20,30\n", Label::First)
        );
        for (at, text) in [(1, "10,1,20,30\n"), (2, "10,20,1,30\n")] {
            let middle = read(text, Label::Column(at));
            assert_eq!(middle.labels, [1], "column {at}");
            assert_eq!(middle.features, [[10.0, 20.0, 30.0]], "column {at}");
        }
        let last = read("10,20,30,2\n", Label::Last);
        assert_eq!((last.features[0], last.labels[0]), ([10.0, 20.0, 30.0], 2));
        assert_eq!(read("10,20,30,2\n", Label::Column(3)), last);
        // The default is the last column.
        assert_eq!(Label::default(), Label::Last);
        assert_eq!(CsvOptions::new(3).label, Label::Last);
        // With the label first, its last column is a feature, not a label: `Last` would refuse
        // 30 as a class.
        let err = Dataset::<3>::from_reader(&b"2,10,20,30\n"[..], "l.csv", OPTS).unwrap_err();
        assert!(
            matches!(err, DataError::BadLabel { column: 4, .. }),
            "{err}"
        );
    }

    /// Errors name the row's own field numbers, whichever column the label is in; a label
    /// column past the row is refused at the first data line, and a wrong field count is
    /// still a field count error.
    #[test]
    fn errors_name_the_field_with_the_label_anywhere() {
        let first = OPTS.label(Label::First);
        let middle = OPTS.label(Label::Column(1));
        let cases = [
            (first, "1,2,0\n5,2,0\n", "line 2, field 1: label `5` is not a class index in 0..3"),
            (first, "1,2,0\n1,x,0\n", "line 2, field 2: `x` is not a finite f32 number"),
            (first, "1,2,0\n1,2,inf\n", "line 2, field 3: `inf` is not a finite f32 number"),
            (middle, "1,2,0\n1,-1,0\n", "line 2, field 2: label `-1`"),
            (middle, "1,2,0\nx,1,0\n", "line 2, field 1: `x`"),
            (middle, "1,2,0\n0,1,NaN\n", "line 2, field 3: `NaN`"),
            // The first faulty field in row order is reported.
            (first, "x,y,0\n", "line 1, field 1: label `x`"),
            (middle, "x,y,0\n", "line 1, field 1: `x` is not a finite f32 number"),
            (
                first,
                "1,2,0\n1,2\n",
                "line 2, field 3: expected 3 comma-separated fields (2 features and a label), found 2",
            ),
            (
                middle,
                "1,2,0,4\n",
                "line 1, field 4: expected 3 comma-separated fields (2 features and a label), found 4",
            ),
        ];
        for (options, text, expected) in cases {
            let err = Dataset::<2>::from_reader(text.as_bytes(), "e.csv", options)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(expected),
                "{:?} {text:?}: {err}",
                options.label
            );
        }
        // A label column past every valid row's fields.
        let past = OPTS.header(true).label(Label::Column(3));
        let err = Dataset::<2>::from_reader(&b"a,b,y\n\n1,2,0\n"[..], "p.csv", past).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::LabelColumn {
                    line: 3,
                    index: 3,
                    found: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "p.csv: line 3: the label column index 3 is past the row's 3 fields (indices 0..3)"
        );
        let huge = OPTS.label(Label::Column(usize::MAX));
        let err = Dataset::<2>::from_reader(&b"1,2,0\n"[..], "p.csv", huge).unwrap_err();
        assert!(
            matches!(err, DataError::LabelColumn { line: 1, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains(&std::format!("index {}", usize::MAX)),
            "{err}"
        );
        // A row whose field count is wrong is reported as such first.
        let past = OPTS.label(Label::Column(3));
        let err = Dataset::<2>::from_reader(&b"1,2,0,4\n"[..], "p.csv", past).unwrap_err();
        assert!(
            matches!(err, DataError::FieldCount { line: 1, .. }),
            "{err:?}"
        );
        // With no features the only field is the label, wherever it is said to be.
        let d =
            Dataset::<0>::from_reader(&b"1\n2\n"[..], "z.csv", OPTS.label(Label::First)).unwrap();
        assert_eq!(d.labels, [1, 2]);
    }

    /// Gzip data under a name without `.gz` (or handed to `from_reader` compressed) says so,
    /// not "line 1: not UTF-8 text", with or without a header line to skip.
    #[test]
    fn gzip_data_without_a_gz_name_is_named_as_such() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"1,2,0\n3,4,1\n").unwrap();
        let bytes = gz.finish().unwrap();
        let path = write("compressed.csv", "");
        fs::write(&path, &bytes).unwrap();
        for options in [OPTS, OPTS.header(true)] {
            let err = Dataset::<2>::load_csv(&path, options).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(&err, DataError::Io { source, .. } if source.kind() == io::ErrorKind::InvalidData),
                "{message}"
            );
            assert!(message.contains("gzip"), "{message}");
            assert!(message.contains(".gz"), "{message}");
            let err = Dataset::<2>::from_reader(&bytes[..], "mem.csv", options).unwrap_err();
            assert!(err.to_string().contains("gzip"), "{err}");
        }
        // The same bytes under a `.gz` name read.
        let path = write("compressed.csv.gz", "");
        fs::write(&path, &bytes).unwrap();
        assert_eq!(Dataset::<2>::load_csv(&path, OPTS).unwrap().len(), 2);
    }

    /// A read that fails partway through the file (a `.gz` cut short, a disk or network
    /// error) names the line it was reading, so the error says how far the file was good.
    #[test]
    fn a_read_error_names_the_line_it_stopped_at() {
        use std::io::Write as _;
        let text: String = (0..300)
            .map(|i| std::format!("{i},{},{}\n", i * 7, i % 3))
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let path = write("cut.csv.gz", "");
        fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let err = Dataset::<2>::load_csv(&path, OPTS).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, DataError::Io { .. }), "{message}");
        assert!(message.contains("line 301: "), "{message}");

        /// Two good lines, then an error.
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                const GOOD: &[u8] = b"1,2,0\n3,4,1\n";
                if self.0 >= GOOD.len() {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "link down"));
                }
                let n = buf.len().min(GOOD.len() - self.0);
                buf[..n].copy_from_slice(&GOOD[self.0..self.0 + n]);
                self.0 += n;
                Ok(n)
            }
        }
        let err =
            Dataset::<2>::from_reader(BufReader::new(Failing(0)), "net.csv", OPTS).unwrap_err();
        assert_eq!(err.to_string(), "net.csv: line 3: link down");
        let DataError::Io { source, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(source.kind(), io::ErrorKind::ConnectionReset);
        // Opening is not reading a line.
        let missing = Dataset::<2>::load_csv("/nonexistent/x.csv", OPTS).unwrap_err();
        assert!(!missing.to_string().contains("line"), "{missing}");
    }

    /// `.GZ` is gzip as `.gz` is.
    #[test]
    fn the_gz_extension_is_case_insensitive() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"1,2,0\n").unwrap();
        let path = write("upper.csv.GZ", "");
        fs::write(&path, gz.finish().unwrap()).unwrap();
        let d = Dataset::<2>::load_csv(&path, OPTS).unwrap();
        assert_eq!(d.features, [[1.0, 2.0]]);
    }
}
