"""Start the os-ken fabric controller (os-ken 4.x ships no osken-manager).

    python -m controllers.run --state FILE --api-port 6654 [--ofp-port 6653]

The OpenFlow listener and the API both bind to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="k8snet-controller")
    parser.add_argument("--state", required=True, help="fabric state JSON file")
    parser.add_argument("--api-port", type=int, default=6654)
    parser.add_argument("--ofp-port", type=int, default=6653)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    os.environ["K8SNET_FABRIC_STATE"] = args.state
    os.environ["K8SNET_CONTROLLER_API_PORT"] = str(args.api_port)

    from os_ken.lib import hub
    hub.patch(thread=False)
    from os_ken import cfg
    from os_ken.base.app_manager import AppManager

    conf = ["--ofp-listen-host", "127.0.0.1",
            "--ofp-tcp-listen-port", str(args.ofp_port)]
    if args.verbose:
        conf.append("--verbose")
    cfg.CONF(args=conf, project="os_ken")
    import logging
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    try:
        AppManager.run_apps(["controllers.fabric_app",
                             "os_ken.controller.ofp_handler"])
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
