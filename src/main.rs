//! The `metronome` binary: everything happens in `metronome::cli`.

// Every arrival allocates its task and request, and glibc's allocator spent a tenth of the
// engine's time at high rates; mimalloc's per-thread heaps suit one runtime per worker thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // mimalloc asks for transparent huge pages: each first touch of one zeroes 2 MiB at once
    // (a millisecond-scale pause on a VM, seen as dispatch lag), and RSS then grows in 2 MiB
    // steps after every burst of arrivals in flight. Small pages keep memory tracking use.
    // SAFETY: prctl with constant arguments; it only changes how this process's memory faults.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    std::process::exit(metronome::cli::main());
}
