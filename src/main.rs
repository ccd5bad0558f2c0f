//! The `metronome` binary: everything happens in `metronome::cli`.

// Every arrival allocates its task and request, and glibc's allocator spent a tenth of the
// engine's time at high rates; mimalloc's per-thread heaps suit one runtime per worker thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(metronome::cli::main());
}
