//! deploy/: the Kubernetes manifests validated offline against the Kubernetes schemas, their
//! distributed-run structure read from the YAML text, the ConfigMap's plan checked by the
//! binary, and deploy/local-indexed-job.sh driven with a stand-in binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// number is the whole number after `key: ` on the line that holds it, once in `yaml`.
fn number(yaml: &str, key: &str) -> u32 {
    let found: Vec<u32> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix(": ")?.parse().ok())
        .collect();
    assert_eq!(found.len(), 1, "one `{key}:` line, found {found:?}");
    found[0]
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let out = Command::new("bash")
        .arg(repo("scripts/validate-k8s.sh"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    for file in ["configmap", "pvc", "job-shards", "job-merge", "results-pod"] {
        for version in ["1.30", "1.37"] {
            let line = format!("valid against Kubernetes {version} (strict)");
            assert!(
                stdout
                    .lines()
                    .any(|l| l.contains(&format!("/{file}.yaml:")) && l.ends_with(&line)),
                "{file}.yaml against {version}:\n{stdout}"
            );
        }
    }
    for check in [
        "ok: shards: completionMode Indexed",
        "ok: shards: parallelism == completions == 4",
        "ok: shards: every $(VAR) in args is declared in env",
        "ok: merge: merge /results/0 /results/1 /results/2 /results/3 --out /results/merged",
    ] {
        assert!(stdout.contains(check), "{check}:\n{stdout}");
    }
}

#[test]
fn shards_are_an_indexed_job_one_per_node_and_non_root() {
    let shards = read("deploy/kubernetes/job-shards.yaml");
    assert!(shards.contains("completionMode: Indexed"));
    let n = number(&shards, "completions");
    assert_eq!(number(&shards, "parallelism"), n);
    assert!(shards.contains(&format!("- auto/{n}")), "--shard auto/{n}");
    assert!(shards.contains("- /results/$(JOB_COMPLETION_INDEX)"));
    assert!(shards.contains("podAntiAffinity:"));
    assert!(shards.contains("topologyKey: kubernetes.io/hostname"));
    assert!(shards.contains("restartPolicy: Never"));

    let merge = read("deploy/kubernetes/job-merge.yaml");
    let lines: Vec<&str> = merge.lines().map(str::trim).collect();
    let mut args = vec!["- merge".to_owned()];
    args.extend((0..n).map(|i| format!("- /results/{i}")));
    args.extend(["- --out", "- /results/merged"].map(String::from));
    assert!(
        lines.windows(args.len()).any(|w| w == args),
        "job-merge.yaml's args: {args:?}"
    );

    let uid = read("deploy/Dockerfile")
        .lines()
        .find_map(|l| Some(l.strip_prefix("USER ")?.split(':').next()?.to_owned()))
        .expect("a USER line");
    for file in ["job-shards", "job-merge", "results-pod"] {
        let yaml = read(&format!("deploy/kubernetes/{file}.yaml"));
        assert!(yaml.contains("runAsNonRoot: true"), "{file}");
        assert!(yaml.contains(&format!("runAsUser: {uid}")), "{file}");
        assert!(yaml.contains("readOnlyRootFilesystem: true"), "{file}");
    }
}

/// The ConfigMap's plan.toml block, de-indented.
fn configmap_plan() -> String {
    let yaml = read("deploy/kubernetes/configmap.yaml");
    let mut lines = yaml.lines().skip_while(|l| *l != "  plan.toml: |").skip(1);
    let mut plan = String::new();
    for line in lines.by_ref() {
        match line.strip_prefix("    ") {
            Some(rest) => plan.push_str(rest),
            None if line.is_empty() => {}
            None => break,
        }
        plan.push('\n');
    }
    assert!(plan.contains("[[scenario]]"), "a plan under plan.toml");
    plan
}

#[test]
fn the_configmap_holds_a_valid_plan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.toml");
    std::fs::write(&path, configmap_plan()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_metronome"))
        .args(["check", path.to_str().unwrap()])
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The local imitation of the Indexed Job, driven with a stand-in for the binary that logs
/// how it was called: each shard gets its index in JOB_COMPLETION_INDEX, all get one absolute
/// start instant, and the script exits with the merge's code.
#[test]
fn local_indexed_job_starts_n_shards_at_one_instant_then_merges() {
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("metronome");
    std::fs::write(
        &stub,
        "#!/usr/bin/env bash\necho \"${JOB_COMPLETION_INDEX:-none} $*\"\n\
         [ \"$1\" = merge ] && exit 3\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let root = dir.path().join("runs");
    let root_s = root.to_str().unwrap();
    let out = Command::new("bash")
        .arg(repo("deploy/local-indexed-job.sh"))
        .args(["3", "plans/load-50.toml", "http://127.0.0.1:9", root_s])
        .args(["--threads", "1"])
        .env("METRONOME", &stub)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the merge's exit code:\n{stderr}"
    );
    let merge = format!("none merge {root_s}/0 {root_s}/1 {root_s}/2 --out {root_s}/merged");
    assert_eq!(stdout.trim(), merge);

    let mut starts = Vec::new();
    for i in 0..3 {
        let log = std::fs::read_to_string(root.join(format!("{i}.log"))).unwrap();
        let words: Vec<&str> = log.split_whitespace().collect();
        assert_eq!(words[0], i.to_string(), "JOB_COMPLETION_INDEX: {log}");
        let at = |flag: &str| words[words.iter().position(|w| *w == flag).unwrap() + 1];
        assert_eq!(at("--shard"), "auto/3", "{log}");
        assert_eq!(at("--out"), format!("{root_s}/{i}"), "{log}");
        assert!(log.contains("--threads 1"), "extra flags passed on: {log}");
        starts.push(at("--start-at").to_owned());
    }
    assert!(
        starts[0].ends_with('Z') && starts[0].contains('T'),
        "{}",
        starts[0]
    );
    assert!(starts.iter().all(|s| *s == starts[0]), "{starts:?}");
    assert!(stderr.contains("merge: exit 3"), "{stderr}");
}
