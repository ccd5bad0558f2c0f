//! Variable sources: what a template variable's values are drawn from (a list, a range, the
//! arrival's sequence number, the rows of a data file) and the set of them a plan declares.
//!
//! This file owns the declarations and which data file row an arrival uses; drawing a value and
//! writing it out is rendering (in `mod.rs`), and reading the data file is `csv_data.rs`.

use std::sync::Arc;

use super::CsvData;

/// VarSource is where a template variable's values come from.
#[derive(Debug, Clone, PartialEq)]
pub enum VarSource {
    /// One of these, drawn uniformly.
    List(Vec<String>),
    /// An integer in [lo, hi], drawn uniformly.
    Range { lo: i64, hi: i64 },
    /// The arrival's index within its scenario (0, 1, 2, …): unique per arrival.
    Sequence,
    /// Rows of a data file (CSV), read once; templates name its columns.
    Csv {
        /// The parsed file.
        data: Arc<CsvData>,
        /// Which row an arrival uses.
        order: CsvOrder,
    },
}

/// CsvOrder says which row of a data file arrival `i` of a scenario uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvOrder {
    /// Row i: each row at most once per scenario. The plan file rejects a schedule with more
    /// arrivals than rows; should one get past it, the rows start over.
    Sequential,
    /// Row i mod n: in order, starting over after the last row.
    Cycle,
    /// A row drawn from (seed, scenario, variable, i).
    Random,
}

impl CsvOrder {
    /// row is the row arrival `index` uses, of `rows` (at least one); `bits` is its draw.
    pub(super) fn row(self, rows: usize, index: u64, bits: u64) -> usize {
        let n = rows as u64;
        match self {
            CsvOrder::Sequential | CsvOrder::Cycle => (index % n) as usize,
            CsvOrder::Random => (bits % n) as usize,
        }
    }
}

/// Vars are the template variables a plan declares, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars {
    pub(super) names: Vec<String>,
    pub(super) sources: Vec<VarSource>,
}

impl Vars {
    /// add declares a variable; it returns false when the name is already taken.
    pub fn add(&mut self, name: &str, source: VarSource) -> bool {
        if self.names.iter().any(|n| n == name) {
            return false;
        }
        self.names.push(name.to_string());
        self.sources.push(source);
        true
    }

    /// names lists the declared names, in declaration order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// get is the source of a declared variable.
    pub fn get(&self, name: &str) -> Option<&VarSource> {
        self.index(name).map(|i| &self.sources[i])
    }

    pub(super) fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}
