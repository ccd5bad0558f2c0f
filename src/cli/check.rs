//! `metronome check`: plan files validated and described, nothing sent.
//!
//! It owns only the verb's flags and its exit code (2 when any plan is refused, after every
//! plan has been tried); reading a plan is `plan_file`'s, describing it `check`'s.

use std::path::PathBuf;

use clap::Args;

use crate::check;
use crate::plan_file::{self, Overrides};

#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    /// Plan files to check.
    #[arg(required = true)]
    plans: Vec<PathBuf>,
}

/// command checks every plan and prints what each would do, or why it is refused.
pub(super) fn command(args: CheckArgs) -> i32 {
    let mut code = 0;
    for path in &args.plans {
        match plan_file::load(path, &Overrides::default()) {
            Ok(loaded) => {
                crate::show!("{}: ok", path.display());
                crate::show!("{}", check::describe(&loaded.plan, loaded.has_target));
            }
            Err(e) => {
                crate::say!("{e}");
                code = 2;
            }
        }
    }
    code
}
