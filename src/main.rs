//! The `metronome` binary: everything happens in `metronome::cli`.

fn main() {
    std::process::exit(metronome::cli::main());
}
