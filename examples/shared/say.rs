// Included by every example program (`include!`), which share no module.

/// `println!` that ends the program quietly when standard output is closed (`| head`), where
/// `println!` panics.
macro_rules! say {
    ($($arg:tt)*) => {
        say(format_args!($($arg)*))
    };
}

fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        panic!("writing to standard output: {e}");
    }
}
