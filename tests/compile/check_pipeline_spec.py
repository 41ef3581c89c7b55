"""Check KFP v2 PipelineSpec files the way kfp loads them, without kfp.

usage: python3 check_pipeline_spec.py <pb2 dir> <spec.json|spec.yaml>...

For each file: yaml.safe_load (JSON is YAML), then
google.protobuf.json_format.ParseDict(doc, PipelineSpec()), which refuses unknown
fields and bad enum values; then deploymentSpec (a Struct there) is parsed a second
time as PipelineDeploymentConfig. Then the references a backend resolves: every
task's componentRef, dependentTasks and producerTask name something that exists,
and every component's executorLabel names an executor.

Prints one JSON line per file: {"file", "ok", "error"}; exits 1 if any failed.
"""
import json
import sys

import yaml

sys.path.insert(0, sys.argv[1])
from google.protobuf import json_format  # noqa: E402
import pipeline_spec_pb2 as pb  # noqa: E402


def check_dag(where, dag, components):
    tasks = dag.get("tasks", {})
    for name, task in tasks.items():
        ref = task.get("componentRef", {}).get("name")
        if ref not in components:
            raise ValueError(f"{where}: task {name} refers to missing component {ref}")
        for dep in task.get("dependentTasks", []):
            if dep not in tasks:
                raise ValueError(f"{where}: task {name} depends on missing task {dep}")
        inputs = task.get("inputs", {})
        for kind in ("parameters", "artifacts"):
            for key, spec in inputs.get(kind, {}).items():
                for field in ("taskOutputParameter", "taskOutputArtifact"):
                    producer = spec.get(field, {}).get("producerTask")
                    if producer is not None and producer not in tasks:
                        raise ValueError(
                            f"{where}: task {name} input {key} from missing task {producer}"
                        )


def check(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    spec = json_format.ParseDict(doc, pb.PipelineSpec())
    deployment = doc.get("deploymentSpec", {})
    json_format.ParseDict(deployment, pb.PipelineDeploymentConfig())
    executors = deployment.get("executors", {})
    components = doc.get("components", {})
    for name, comp in components.items():
        label = comp.get("executorLabel")
        if label and label not in executors:
            raise ValueError(f"component {name}: executor {label} is missing")
        if "dag" in comp:
            check_dag(f"component {name}", comp["dag"], components)
    check_dag("root", doc.get("root", {}).get("dag", {}), components)
    if not spec.pipeline_info.name:
        raise ValueError("pipelineInfo.name is empty")
    return spec


def main():
    failed = False
    for path in sys.argv[2:]:
        try:
            check(path)
            print(json.dumps({"file": path, "ok": True}))
        except Exception as err:  # noqa: BLE001 - every failure is reported
            failed = True
            print(json.dumps({"file": path, "ok": False, "error": f"{type(err).__name__}: {err}"}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
