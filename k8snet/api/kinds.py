"""The kinds the lab knows: group, version, resource name, scope, short names.

What the API server's discovery documents say about each built-in kind
(``kubectl api-resources``); any other kind is stored as given, with a
resource name guessed the way kubectl's RESTMapper guesses it (lower-case
plural).  Source: https://kubernetes.io/docs/reference/using-api/api-concepts/
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One kind: ``Kind("Deployment", "apps", "v1", "deployments", True, ("deploy",))``."""

    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    acted_on: bool = True          # the lab gives it behaviour (else: stored only)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """``deployments.apps``: how the API server names the resource in errors."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def ref(self, name: str) -> str:
        """``deployment.apps/web``: how kubectl names an object in its output."""
        base = f"{self.singular}.{self.group}" if self.group else self.singular
        return f"{base}/{name}"

    def quoted(self, name: str) -> str:
        """``deployment.apps "web"``: how kubectl names it in ``deleted`` lines."""
        base, _, _ = self.ref(name).partition("/")
        return f'{base} "{name}"'


ALL = ("all",)
BUILTIN: tuple[Kind, ...] = (
    Kind("Namespace", "", "v1", "namespaces", False, ("ns",)),
    Kind("Node", "", "v1", "nodes", False, ("no",)),
    Kind("Pod", "", "v1", "pods", True, ("po",), ALL),
    Kind("Service", "", "v1", "services", True, ("svc",), ALL),
    Kind("Endpoints", "", "v1", "endpoints", True, ("ep",)),
    Kind("ConfigMap", "", "v1", "configmaps", True, ("cm",)),
    Kind("Secret", "", "v1", "secrets", True, ()),
    Kind("Event", "", "v1", "events", True, ("ev",)),
    Kind("ServiceAccount", "", "v1", "serviceaccounts", True, ("sa",), (), False),
    Kind("PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", True, ("pvc",), (),
         False),
    Kind("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", True, ()),
    Kind("Deployment", "apps", "v1", "deployments", True, ("deploy",), ALL),
    Kind("ReplicaSet", "apps", "v1", "replicasets", True, ("rs",), ALL),
    Kind("StatefulSet", "apps", "v1", "statefulsets", True, ("sts",), ALL),
    Kind("DaemonSet", "apps", "v1", "daemonsets", True, ("ds",), ALL),
    Kind("ControllerRevision", "apps", "v1", "controllerrevisions", True, ()),
    Kind("Lease", "coordination.k8s.io", "v1", "leases", True, ()),     # node heartbeats
    Kind("Ingress", "networking.k8s.io", "v1", "ingresses", True, ("ing",)),
    Kind("IngressClass", "networking.k8s.io", "v1", "ingressclasses", False, ()),
    Kind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", True, ("netpol",)),
    # Stored and listed; no behaviour in the lab.
    Kind("PersistentVolume", "", "v1", "persistentvolumes", False, ("pv",), (), False),
    Kind("ResourceQuota", "", "v1", "resourcequotas", True, ("quota",), (), False),
    Kind("LimitRange", "", "v1", "limitranges", True, ("limits",), (), False),
    Kind("Job", "batch", "v1", "jobs", True, (), ALL, False),
    Kind("CronJob", "batch", "v1", "cronjobs", True, ("cj",), ALL, False),
    Kind("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers", True,
         ("hpa",), ALL, False),
    Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", True, ("pdb",), (),
         False),
    Kind("Role", "rbac.authorization.k8s.io", "v1", "roles", True, (), (), False),
    Kind("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", True, (), (), False),
    Kind("ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", False, (), (), False),
    Kind("ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", False,
         (), (), False),
    Kind("StorageClass", "storage.k8s.io", "v1", "storageclasses", False, ("sc",), (), False),
    Kind("PriorityClass", "scheduling.k8s.io", "v1", "priorityclasses", False, ("pc",), (),
         False),
    Kind("CustomResourceDefinition", "apiextensions.k8s.io", "v1",
         "customresourcedefinitions", False, ("crd", "crds"), (), False),
)
BY_KIND = {k.kind: k for k in BUILTIN}


def plural_of(kind: str) -> str:
    """kubectl's guess for an unknown kind: lower-case, English plural."""
    low = kind.lower()
    if low.endswith("s"):
        return low + "es"
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return low[:-1] + "ies"
    return low + "s"


def kind_info(kind: str, api_version: str = "v1", namespaced: bool = True) -> Kind:
    """The built-in ``Kind`` for ``kind``, or one made up for an unknown kind
    (stored only: ``acted_on`` False)."""
    if kind in BY_KIND:
        return BY_KIND[kind]
    group, _, version = api_version.rpartition("/")
    return Kind(kind, group, version or "v1", plural_of(kind), namespaced, (), (), False)


def lookup(word: str) -> Kind | None:
    """A kind by what a user types: ``pods``, ``pod``, ``po``, ``deploy``,
    ``deployments.apps``, ``Deployment``; None when nothing matches."""
    base, _, group = word.lower().partition(".")
    for k in BUILTIN:
        if group and group != k.group:
            continue
        if base in (k.plural, k.singular, *k.short_names):
            return k
    return None
