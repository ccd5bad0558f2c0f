#!/usr/bin/env python3
"""Validates deploy/kubernetes/ offline: every document against the Kubernetes JSON schemas
that kubernetes-validate bundles, for each version given, then what the schemas cannot see:
that the files agree with each other and with the distributed-run model (deploy/README.md).
Prints one line per check, "ok: ..." or "FAIL: ...", and exits 1 if any failed.
Usage: validate_k8s.py FOLDER VERSION... (scripts/validate-k8s.sh runs it)."""

import re
import sys
from pathlib import Path

import kubernetes_validate
import yaml

failed = False


def check(ok, what):
    global failed
    print(("ok: " if ok else "FAIL: ") + what)
    failed = failed or not ok


def load(folder, versions):
    """Every document of every file, by kind, each validated against the schemas of every
    version; YAML errors end the run here."""
    docs = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:
                continue
            what = f"{path}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            for version in versions:
                # The library, not the command: its command only warns, and exits 0, when
                # it has no schema for a kind (a misspelt kind passes it).
                try:
                    got = kubernetes_validate.validate(doc, version, strict=True)
                    check(True, f"{what} valid against Kubernetes {got} (strict)")
                except kubernetes_validate.ValidationError as e:
                    where = ".".join(str(p) for p in e.path)
                    check(False, f"{what} against Kubernetes {version}: {where}: {e.message}")
                except Exception as e:  # no schema for the kind, or an unknown version
                    check(False, f"{what} against Kubernetes {version}: {getattr(e, 'message', e)}")
            docs.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    return docs


def image_uid():
    """The numeric UID the image runs as (deploy/Dockerfile's USER)."""
    text = (Path(__file__).parent.parent / "deploy/Dockerfile").read_text()
    return int(re.search(r"^USER (\d+)", text, re.MULTILINE).group(1))


def non_root(name, pod, uid):
    ctx = pod.get("securityContext", {})
    check(ctx.get("runAsNonRoot") is True, f"{name}: runAsNonRoot")
    check(ctx.get("runAsUser") == uid, f"{name}: runAsUser {uid}, the image's USER")
    for c in pod["containers"]:
        check(
            c.get("securityContext", {}).get("readOnlyRootFilesystem") is True,
            f"{name}: container {c['name']} has readOnlyRootFilesystem",
        )


def mounts(name, pod, plan_map, claim):
    """The plan ConfigMap at /plan and the results claim at /results."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    at = {m["mountPath"]: volumes[m["name"]] for m in pod["containers"][0]["volumeMounts"]}
    check(
        at.get("/plan", {}).get("configMap", {}).get("name") == plan_map,
        f"{name}: ConfigMap {plan_map} mounted at /plan",
    )
    check(
        at.get("/results", {}).get("persistentVolumeClaim", {}).get("claimName") == claim,
        f"{name}: claim {claim} mounted at /results",
    )


def after(args, flag):
    return args[args.index(flag) + 1] if flag in args else None


def main(folder, versions):
    docs = load(folder, versions)
    if failed:
        sys.exit(1)
    uid = image_uid()
    (plan_map, config), = docs["ConfigMap"].items()
    check("plan.toml" in config["data"], f"ConfigMap {plan_map} holds plan.toml")
    (claim, pvc), = docs["PersistentVolumeClaim"].items()
    check("ReadWriteMany" in pvc["spec"]["accessModes"], f"claim {claim} is ReadWriteMany")

    jobs = docs["Job"]
    shards = jobs["metronome-shards"]["spec"]
    n = shards["completions"]
    check(shards.get("completionMode") == "Indexed", "shards: completionMode Indexed")
    check(shards.get("parallelism") == n, f"shards: parallelism == completions == {n}")
    pod = shards["template"]["spec"]
    check(pod.get("restartPolicy") == "Never", "shards: restartPolicy Never")
    terms = (
        pod.get("affinity", {})
        .get("podAntiAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution", [])
    )
    labels = shards["template"]["metadata"]["labels"]
    check(
        any(
            t.get("topologyKey") == "kubernetes.io/hostname"
            and t["labelSelector"]["matchLabels"].items() <= labels.items()
            for t in terms
        ),
        "shards: required pod anti-affinity on kubernetes.io/hostname selects the shards' own label",
    )
    container = pod["containers"][0]
    args = container["args"]
    check(args[:2] == ["run", "/plan/plan.toml"], "shards: run /plan/plan.toml")
    check(after(args, "--shard") == f"auto/{n}", f"shards: --shard auto/{n}")
    check(after(args, "--start-at") == "$(START_AT)", "shards: --start-at $(START_AT)")
    check(
        after(args, "--out") == "/results/$(JOB_COMPLETION_INDEX)",
        "shards: --out /results/$(JOB_COMPLETION_INDEX)",
    )
    # An undeclared $(VAR) is passed through literally, not expanded.
    env = {e["name"]: e for e in container.get("env", [])}
    used = set(re.findall(r"\$\((\w+)\)", " ".join(args)))
    check(used <= env.keys(), f"shards: every $(VAR) in args is declared in env: {sorted(used)}")
    index = env.get("JOB_COMPLETION_INDEX", {}).get("valueFrom", {}).get("fieldRef", {})
    check(
        index.get("fieldPath")
        == "metadata.annotations['batch.kubernetes.io/job-completion-index']",
        "shards: JOB_COMPLETION_INDEX from the pod's completion-index annotation",
    )
    res = container["resources"]
    cpu = res["limits"]["cpu"]
    check(
        res["requests"]["cpu"] == cpu and re.fullmatch(r"[1-9][0-9]*", str(cpu)) is not None,
        f"shards: CPU in whole cores, requests == limits ({cpu})",
    )
    non_root("shards", pod, uid)
    mounts("shards", pod, plan_map, claim)

    merge_pod = jobs["metronome-merge"]["spec"]["template"]["spec"]
    margs = merge_pod["containers"][0]["args"]
    folders = [f"/results/{i}" for i in range(n)]
    check(
        margs == ["merge", *folders, "--out", "/results/merged"],
        f"merge: merge {' '.join(folders)} --out /results/merged",
    )
    non_root("merge", merge_pod, uid)
    mounts("merge", merge_pod, plan_map, claim)

    for name, pod in docs.get("Pod", {}).items():
        non_root(f"pod {name}", pod["spec"], uid)

    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
