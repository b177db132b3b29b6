#!/usr/bin/python3
"""An appkit daemon seen from Python, through its control sockets.

    ./bazelw run //examples/python_client -- --pid-file /tmp/appkit-tour/demo.pid

Prints the daemon's status (appkit.v1.Guardian/GetStatus), checks its
health (grpc.health.v1.Health/Check) and lists the workers of its pool
(appkit.v1.Controller/ListWorkers on the pool's socket). The stubs are
generated from appkit's proto/ at build time (BUILD) with Debian's
python3-grpc-tools; the client runs on Debian's python3-grpcio. Exit code
0 when the daemon is healthy, 1 otherwise.
"""
import argparse
import sys

import grpc

import health_pb2
import health_pb2_grpc
from proto import controller_pb2
from proto import controller_pb2_grpc
from proto import guardian_pb2
from proto import guardian_pb2_grpc

TIMEOUT_SECONDS = 5


def short(enum_type, value, prefix):
    return enum_type.Name(value)[len(prefix):]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pid-file", required=True, help="the daemon's pid file")
    parser.add_argument("--socket", help="its control socket (default: <pid file>.sock)")
    args = parser.parse_args()
    socket = args.socket or args.pid_file + ".sock"

    try:
        with grpc.insecure_channel("unix:" + socket) as channel:
            status = guardian_pb2_grpc.GuardianStub(channel).GetStatus(
                guardian_pb2.GetStatusRequest(), timeout=TIMEOUT_SECONDS)
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS)
    except grpc.RpcError as error:
        print("cannot reach %s: %s" % (socket, error.details()), file=sys.stderr)
        return 1

    print("daemon    %s, guardian pid %d, entry %s" % (
        short(guardian_pb2.GuardianState, status.state, "GUARDIAN_STATE_"),
        status.guardian_pid, status.daemon_entry))
    print("executor  pid %d (%s), %d restarts" % (
        status.executor.pid, status.executor.description, status.restart_count))
    healthy = health.status == health_pb2.HealthCheckResponse.SERVING
    print("health    %s" % health_pb2.HealthCheckResponse.ServingStatus.Name(health.status))

    if not status.controller_socket:
        print("workers   none (no worker pool serves a socket)")
        return 0 if healthy else 1
    with grpc.insecure_channel("unix:" + status.controller_socket) as channel:
        workers = controller_pb2_grpc.ControllerStub(channel).ListWorkers(
            controller_pb2.ListWorkersRequest(), timeout=TIMEOUT_SECONDS)
    print("workers   %d, controller pid %d" % (len(workers.workers), workers.controller_pid))
    for worker in workers.workers:
        last = worker.history[-1].description if worker.history else "-"
        print("  %-12s %-20s pid %-8d restarts %-3d last exit: %s" % (
            worker.name, short(controller_pb2.WorkerState, worker.state, "WORKER_STATE_"),
            worker.current.pid, worker.restart_count, last))
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
