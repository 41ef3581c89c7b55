"""Load an Airflow DAG file against a tiny shim of `airflow.sdk` and the operators it uses.

usage: python3 load_dag.py <dag file>

The shim records each DAG's arguments, every task (operator class and keyword arguments)
and every `a >> b` edge, and prints them as JSON. No Airflow is installed: this checks the
file's structure, not Airflow's own parsing.
"""
import json
import runpy
import sys
import types

DAGS = []
_current = []


class DAG:
    def __init__(self, dag_id=None, **kwargs):
        self.dag_id = dag_id
        self.kwargs = kwargs
        self.tasks = {}
        self.edges = []
        DAGS.append(self)

    def __enter__(self):
        _current.append(self)
        return self

    def __exit__(self, *exc):
        _current.pop()
        return False


class BaseOperator:
    def __init__(self, task_id, **kwargs):
        if not _current:
            raise RuntimeError(f"task {task_id} created outside a DAG")
        self.dag = _current[-1]
        if task_id in self.dag.tasks:
            raise RuntimeError(f"duplicate task_id {task_id}")
        self.task_id = task_id
        self.dag.tasks[task_id] = {"operator": type(self).__name__, **kwargs}

    def __rshift__(self, other):
        for o in other if isinstance(other, list) else [other]:
            self.dag.edges.append([self.task_id, o.task_id])
        return other


class KubernetesPodOperator(BaseOperator):
    pass


class BashOperator(BaseOperator):
    pass


class V1ResourceRequirements:
    def __init__(self, limits=None, requests=None):
        self.limits = limits
        self.requests = requests


def _module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


for pkg in ["airflow", "airflow.providers", "airflow.providers.cncf",
            "airflow.providers.cncf.kubernetes", "airflow.providers.cncf.kubernetes.operators",
            "airflow.providers.standard", "airflow.providers.standard.operators",
            "kubernetes", "kubernetes.client"]:
    _module(pkg, __path__=[])
_module("airflow.sdk", DAG=DAG)
_module("airflow.providers.cncf.kubernetes.operators.pod", KubernetesPodOperator=KubernetesPodOperator)
_module("airflow.providers.standard.operators.bash", BashOperator=BashOperator)
models = _module("kubernetes.client.models", V1ResourceRequirements=V1ResourceRequirements)
sys.modules["kubernetes.client"].models = models


def _plain(v):
    if isinstance(v, V1ResourceRequirements):
        return {"limits": v.limits, "requests": v.requests}
    if isinstance(v, (str, int, float, bool, type(None), list, dict)):
        return v
    return repr(v)


runpy.run_path(sys.argv[1], run_name="dag_module")
print(json.dumps([
    {
        "dag_id": d.dag_id,
        "kwargs": {k: _plain(v) for k, v in d.kwargs.items()},
        "tasks": {t: {k: _plain(v) for k, v in kw.items()} for t, kw in d.tasks.items()},
        "edges": d.edges,
    }
    for d in DAGS
]))
