//! Steering: a scenario's rate set anew while the run goes on (from its page or API), or given
//! up front (`--steer AT:SCENARIO=RATE`) to repeat such a run.
//!
//! A change at offset t sets scenario S to rate R: the stage of S running at t ends there, and
//! a constant stage at R runs until S's schedule would have ended; S's later stages are dropped.
//! Λ before t is unchanged, so every arrival due before the change is the one the plan alone
//! gives, and the schedule stays a pure function of the plan plus its changes: the same
//! changes given as `--steer` flags make the same schedule, arrival for arrival.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::{MAX_RATE, Plan, rate_text};
use crate::problem::Problem;
use crate::schedule::Stage;

/// MAX_CHANGES is how many changes one scenario may take in a run: each adds a stage, whose
/// slots the recorder holds from the start.
pub const MAX_CHANGES: usize = 16;

/// LEAD is how far ahead of the moment it is asked for a change takes effect, so every worker
/// has it before its first arrival at the new rate is due.
pub const LEAD: Duration = Duration::from_millis(100);

/// RateChange is one change of a scenario's rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateChange {
    /// The scenario steered.
    pub scenario: String,
    /// When the new rate starts, in seconds from the schedule's start (a whole number of ms).
    pub at_s: f64,
    /// The new rate, arrivals per second (of the whole schedule, every shard together).
    pub rate: f64,
}

impl RateChange {
    /// at is when the change takes effect, as an offset from the schedule's start.
    pub fn at(&self) -> Duration {
        Duration::from_millis((self.at_s * 1000.0).round() as u64)
    }

    /// said is the change in words, with the flag that repeats it: "at 5.084 s, scenario quick
    /// set to 900/s (repeat with --steer 5084ms:quick=900)".
    pub fn said(&self) -> String {
        format!(
            "at {:.3} s, scenario {} set to {}/s (repeat with --steer {})",
            self.at_s,
            self.scenario,
            rate_text(self.rate),
            self.flag()
        )
    }

    /// flag is the `--steer` value that repeats this change.
    pub fn flag(&self) -> String {
        format!(
            "{}ms:{}={}",
            self.at().as_millis(),
            self.scenario,
            rate_text(self.rate)
        )
    }

    /// parse reads a `--steer` value: `AT:SCENARIO=RATE`, or `AT=RATE` for a plan of one
    /// scenario, with AT a duration from the schedule's start (`12500ms`, `1m30s`).
    pub fn parse(text: &str) -> Result<RateChange, Problem> {
        let like = "write it like 90s:checkout=300 (at 90 s, scenario checkout at 300/s), or 90s=300 when the plan has one scenario";
        let Some((when, rate)) = text.rsplit_once('=') else {
            return Err(Problem::new(format!("`{text}` has no `=RATE`"), like));
        };
        let (at, scenario) = match when.split_once(':') {
            Some((at, s)) if !s.trim().is_empty() => (at, s.trim().to_string()),
            Some(_) => return Err(Problem::new(format!("`{text}` names no scenario"), like)),
            None => (when, String::new()),
        };
        let at = crate::units::parse_duration(at)
            .map_err(|e| Problem::new(format!("in `{text}`: {}", e.message), like))?;
        if at.as_nanos() % 1_000_000 != 0 {
            return Err(Problem::new(
                format!("in `{text}`: a change takes effect on a whole millisecond"),
                like,
            ));
        }
        let rate: f64 = rate
            .trim()
            .parse()
            .map_err(|_| Problem::new(format!("in `{text}`: `{rate}` is not a rate"), like))?;
        Ok(RateChange {
            scenario,
            at_s: at.as_millis() as f64 / 1000.0,
            rate,
        })
    }
}

/// apply returns `plan` with `change` made, refusing one that cannot be (an unknown scenario, a
/// rate out of range, a moment the scenario has passed or before an earlier change).
pub fn apply(plan: &Plan, change: &RateChange) -> Result<Plan, Problem> {
    let names = || {
        (plan.scenarios.iter())
            .map(|s| format!("`{}`", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let si = if change.scenario.is_empty() && plan.scenarios.len() == 1 {
        0
    } else {
        (plan
            .scenarios
            .iter()
            .position(|s| s.name == change.scenario))
        .ok_or_else(|| {
            Problem::new(
                format!("the plan has no scenario `{}`", change.scenario),
                format!("name one of {}", names()),
            )
        })?
    };
    let name = plan.scenarios[si].name.clone();
    if !(change.rate.is_finite() && (0.0..=MAX_RATE).contains(&change.rate)) {
        return Err(Problem::new(
            format!("{} is not a rate to set", change.rate),
            format!("give arrivals per second from 0 to {}", rate_text(MAX_RATE)),
        ));
    }
    let earlier = plan.steering.iter().filter(|c| c.scenario == name).count();
    if earlier >= MAX_CHANGES {
        return Err(Problem::new(
            format!("scenario `{name}` has been steered {MAX_CHANGES} times already"),
            "that is the most one run takes; start a new run",
        ));
    }
    let at = change.at();
    if let Some(last) = plan.steering.last()
        && last.at() > at
    {
        return Err(Problem::new(
            format!(
                "a change at {} s comes before the one at {} s",
                change.at_s, last.at_s
            ),
            "give the changes in time order",
        ));
    }
    let scenario = &plan.scenarios[si];
    let schedule = scenario.schedule(plan.seed, si as u64);
    let end = schedule.duration();
    let Some(k) = schedule.stage_at(at).filter(|_| at < end) else {
        return Err(Problem::new(
            format!(
                "scenario `{name}` ends at {:.3} s, before the change at {} s",
                end.as_secs_f64(),
                change.at_s
            ),
            "steer a scenario while it runs",
        ));
    };
    let cut = at.saturating_sub(schedule.stage_start(k));
    let mut stages = scenario.stages[..k].to_vec();
    let mut criteria = scenario.criteria[..k.min(scenario.criteria.len())].to_vec();
    let judged_by = scenario.criteria.get(k).cloned().unwrap_or_default();
    if !cut.is_zero() {
        let st = &scenario.stages[k];
        stages.push(Stage {
            to: schedule.rate_at(at),
            duration: cut,
            settle: st.settle.min(cut),
            ..st.clone()
        });
        criteria.push(judged_by.clone());
    }
    let n = earlier + 1;
    stages.push(Stage::constant(
        &format!("steer #{n} {}/s", rate_text(change.rate)),
        change.rate,
        end - at,
    ));
    criteria.push(judged_by);
    let mut steered = plan.clone();
    let s = &mut steered.scenarios[si];
    s.stages = stages;
    s.criteria = criteria;
    steered.steering.push(RateChange {
        scenario: name,
        ..change.clone()
    });
    Ok(steered)
}

/// live makes a change asked for while the run goes on, `elapsed` into it: it takes effect
/// `LEAD` from now, on the next whole millisecond.
pub fn live(
    plan: &Plan,
    scenario: &str,
    rate: f64,
    elapsed: Duration,
    stopping: bool,
) -> Result<(Plan, RateChange), String> {
    if stopping {
        return Err("the run is stopping: nothing can be steered now".into());
    }
    if !plan.shard.is_whole() {
        return Err(format!(
            "this is shard {} of a run: the other shards would not follow a change made here; give every shard the same --steer flags instead",
            plan.shard
        ));
    }
    let at = elapsed + LEAD;
    let ms = at.as_nanos().div_ceil(1_000_000) as u64;
    let change = RateChange {
        scenario: scenario.to_string(),
        at_s: ms as f64 / 1000.0,
        rate,
    };
    let steered = apply(plan, &change).map_err(|p| p.to_string())?;
    let made = steered
        .steering
        .last()
        .cloned()
        .expect("apply adds the change");
    Ok((steered, made))
}

/// apply_all makes `changes` in time order.
pub fn apply_all(plan: Plan, changes: &[RateChange]) -> Result<Plan, Problem> {
    let mut sorted = changes.to_vec();
    sorted.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    sorted.iter().try_fold(plan, |p, c| apply(&p, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Plan, Target};
    use crate::schedule::Shard;

    fn plan(stages: Vec<Stage>) -> Plan {
        let (target, path) = Target::parse("http://127.0.0.1:1/").unwrap();
        let mut p = Plan::quick(
            target,
            hyper::http::Method::GET,
            &path,
            1.0,
            Duration::from_secs(1),
        );
        p.scenarios[0].stages = stages;
        p.scenarios[0].criteria = vec![Default::default(); p.scenarios[0].stages.len()];
        p
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_change_cuts_the_stage_it_falls_in_and_holds_the_new_rate_to_the_end() {
        let p = plan(vec![
            Stage::constant("warm", 100.0, secs(2.0)),
            Stage::constant("peak", 400.0, secs(3.0)),
        ]);
        let c = RateChange::parse("2500ms:quick=50").unwrap();
        let s = apply(&p, &c).unwrap();
        let st = &s.scenarios[0].stages;
        assert_eq!(st.len(), 3, "{st:?}");
        assert_eq!((st[1].name.as_str(), st[1].duration), ("peak", secs(0.5)));
        assert_eq!(
            (st[2].from, st[2].to, st[2].duration),
            (50.0, 50.0, secs(2.5))
        );
        assert_eq!(s.scenarios[0].criteria.len(), 3);
        assert_eq!(s.steering, vec![c]);
        // 200 + 200 before the change, 125 after.
        let n = s.scenarios[0].schedule(1, 0).arrivals().count();
        assert_eq!(n, 200 + 200 + 125);
    }

    #[test]
    fn arrivals_before_the_change_are_the_plans_and_a_steered_stream_is_the_steered_plans() {
        let p = plan(vec![Stage::constant("a", 300.0, secs(3.0))]);
        let c = RateChange::parse("1200ms=900").unwrap();
        let s = apply(&p, &c).unwrap();
        for process in [
            crate::schedule::ArrivalProcess::Uniform,
            crate::schedule::ArrivalProcess::Poisson,
        ] {
            let old = crate::schedule::Schedule::new(p.scenarios[0].stages.clone(), process, 7, 0);
            let new = crate::schedule::Schedule::new(s.scenarios[0].stages.clone(), process, 7, 0);
            for count in [1, 3] {
                for index in 0..count {
                    // A worker that followed the plan and was steered 100 ms before the change.
                    let mut live = Shard::new(vec![old.clone()], index, count);
                    let mut got = Vec::new();
                    while let Some((_, a)) = live.peek() {
                        if a.offset >= c.at() - LEAD {
                            break;
                        }
                        got.push(live.next().unwrap().1);
                    }
                    live.steer(0, new.clone());
                    got.extend(live.map(|(_, a)| a));
                    let want: Vec<_> = Shard::new(vec![new.clone()], index, count)
                        .map(|(_, a)| a)
                        .collect();
                    assert_eq!(got, want, "{process:?}, worker {index} of {count}");
                    let before = (Shard::new(vec![old.clone()], index, count))
                        .map(|(_, a)| a)
                        .take_while(|a| a.offset < c.at());
                    assert!(before.eq(want.iter().copied().take_while(|a| a.offset < c.at())));
                }
            }
        }
    }

    #[test]
    fn changes_that_cannot_be_made_are_refused_with_what_to_do() {
        let p = plan(vec![Stage::constant("a", 10.0, secs(2.0))]);
        let refused = |text: &str| apply(&p, &RateChange::parse(text).unwrap()).unwrap_err();
        assert!(
            refused("1s:nope=5")
                .to_string()
                .contains("no scenario `nope`")
        );
        assert!(refused("3s=5").to_string().contains("ends at 2.000 s"));
        assert!(refused("1s=-1").to_string().contains("not a rate"));
        let once = apply(&p, &RateChange::parse("1500ms=5").unwrap()).unwrap();
        let err = apply(&once, &RateChange::parse("1s=5").unwrap()).unwrap_err();
        assert!(err.to_string().contains("time order"), "{err}");
        for bad in ["1s", "1.0005s=3", "1s:=3", "soon=3", "1s=fast"] {
            assert!(RateChange::parse(bad).is_err(), "{bad}");
        }
        let c = RateChange::parse("1m30s:checkout=2.5").unwrap();
        assert_eq!(
            (c.at_s, c.rate, c.flag()),
            (90.0, 2.5, "90000ms:checkout=2.5".into())
        );
    }
}
