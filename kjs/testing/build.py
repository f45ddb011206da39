"""Build the test environment's Go servers from the Go module proxy into a cache outside the repo.

None of these can be `go install`ed directly: nsq, etcd and Kubernetes carry `replace` directives
in their go.mod, which `go install pkg@version` refuses. Each is therefore built through a small
wrapper module that repeats what is needed (for Kubernetes: every staging module pinned to its
published `v0.X.Y` tag, read from the tag's own go.mod).

A build takes minutes (Kubernetes about five on two cores): each step says when it starts and how
long it took, and the `go` commands' output goes to the step's log, `<cache>/<name>-<version>/
build.log`, whose tail a failure shows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
NSQ_VERSION = "v1.3.0"
HELM_VERSION = "v3.21.4"

_GO_SVC_FORK = "github.com/mreiferson/go-svc@v1.2.2-0.20210815184239-7a96e00010f6"


class MissingBinaryError(RuntimeError):
    """A server of the test environment has not been built yet."""


def cache_root() -> Path:
    """Where builds live: `KJS_TESTENV_CACHE`, else `~/.cache/kjs/testenv`."""
    override = os.environ.get("KJS_TESTENV_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "kjs" / "testenv"


@dataclass(frozen=True)
class Component:
    """One cached build: a name, a pinned version and the binaries it yields."""

    name: str
    version: str
    binaries: tuple[str, ...]
    build: Callable[[Component, Path, Path], None] = field(compare=False, repr=False)

    @property
    def home(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}"

    @property
    def bin_dir(self) -> Path:
        return self.home / "bin"

    @property
    def log_path(self) -> Path:
        """The output of the last build's `go` commands."""
        return self.home / "build.log"

    def is_built(self) -> bool:
        return all((self.bin_dir / b).is_file() for b in self.binaries)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Never let go download another toolchain (no network for that); static binaries.
    env.update(GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-trimpath")
    return env


# The log of the step being built: the `go` commands write their output there.
_STEP_LOG: ContextVar[TextIO | None] = ContextVar("_STEP_LOG", default=None)


class BuildError(RuntimeError):
    """A `go` command of a build failed; the step's log holds its output."""


def _go(args: Sequence[str], cwd: Path) -> str:
    """Run `go args` in `cwd`; its stdout is returned, its stderr goes to the step's log."""
    out = _STEP_LOG.get()
    if out is not None and args[0] == "build":
        args = ["build", "-v", *args[1:]]  # each package as it compiles: `tail -f` the log
    command = f"go {' '.join(args)}"
    if out is not None:
        out.write(f"\n$ cd {cwd} && {command}\n")
        out.flush()
    proc = subprocess.run(
        ["go", *args],
        cwd=cwd,
        env=_go_env(),
        stdout=subprocess.PIPE,
        stderr=out if out is not None else subprocess.PIPE,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        detail = f":\n{proc.stderr.strip()}" if proc.stderr else ""
        raise BuildError(f"`{command}` failed (exit {proc.returncode}) in {cwd}{detail}")
    return proc.stdout


def _wrapper_module(src: Path, module: str) -> None:
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(f"module {module}\n\ngo 1.26\n")
    (src / "go.sum").unlink(missing_ok=True)


def _build_nsq(c: Component, src: Path, out: Path) -> None:
    _wrapper_module(src, "local/nsqbin")
    # nsq's own go.mod replaces go-svc with a fork; a dependent module must repeat that.
    _go(["mod", "edit", f"-replace=github.com/judwhite/go-svc={_GO_SVC_FORK}"], src)
    pkgs = [f"github.com/nsqio/nsq/apps/{b}" for b in c.binaries]
    _go(["get", "-tool", *(f"{p}@{c.version}" for p in pkgs)], src)
    _go(["build", "-o", f"{out}/", *pkgs], src)


def _build_etcd(c: Component, src: Path, out: Path) -> None:
    _wrapper_module(src, "local/etcdbin")
    pkg = "go.etcd.io/etcd/server/v3"
    _go(["get", "-tool", f"{pkg}@{c.version}"], src)
    _go(["build", "-o", str(out / "etcd"), pkg], src)


def _staging_modules(kubernetes_version: str, src: Path) -> list[str]:
    info = json.loads(
        _go(["mod", "download", "-json", f"k8s.io/kubernetes@{kubernetes_version}"], src)
    )
    gomod = json.loads(_go(["mod", "edit", "-json", info["GoMod"]], src))
    return [
        r["Old"]["Path"]
        for r in gomod.get("Replace") or []
        if r["New"]["Path"].startswith("./staging/")
    ]


def _build_kubernetes(c: Component, src: Path, out: Path) -> None:
    _wrapper_module(src, "local/k8sbin")
    minor = c.version.split(".")[1]
    staging_version = "v0." + c.version.removeprefix("v1.")
    for module in _staging_modules(c.version, src):
        _go(["mod", "edit", f"-replace={module}={module}@{staging_version}"], src)
    pkgs = [f"k8s.io/kubernetes/cmd/{b}" for b in c.binaries]
    _go(["get", "-tool", *(f"{p}@{c.version}" for p in pkgs)], src)
    # Without these the binaries report v0.0.0-master and clients misjudge the server version.
    ldflags = " ".join(
        [
            "-s -w",
            f"-X k8s.io/component-base/version.gitVersion={c.version}",
            "-X k8s.io/component-base/version.gitMajor=1",
            f"-X k8s.io/component-base/version.gitMinor={minor}",
            f"-X k8s.io/client-go/pkg/version.gitVersion={c.version}",
            "-X k8s.io/component-base/version.gitTreeState=clean",
        ]
    )
    _go(["build", "-ldflags", ldflags, "-o", f"{out}/", *pkgs], src)


def _build_helm(c: Component, src: Path, out: Path) -> None:
    _wrapper_module(src, "local/helmbin")
    pkg = "helm.sh/helm/v3/cmd/helm"
    _go(["get", "-tool", f"{pkg}@{c.version}"], src)
    _go(["build", "-ldflags", "-s -w", "-o", str(out / "helm"), pkg], src)


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component("nsq", NSQ_VERSION, ("nsqd", "nsqlookupd"), _build_nsq),
        Component("etcd", ETCD_VERSION, ("etcd",), _build_etcd),
        Component(
            "kubernetes",
            KUBERNETES_VERSION,
            ("kube-apiserver", "kube-controller-manager", "kubectl"),
            _build_kubernetes,
        ),
        Component("helm", HELM_VERSION, ("helm",), _build_helm),
    )
}


def binary(name: str) -> Path:
    """Path of a built server binary, or a MissingBinaryError saying how to build it."""
    for c in COMPONENTS.values():
        if name in c.binaries:
            path = c.bin_dir / name
            if not path.is_file():
                raise MissingBinaryError(
                    f"{name} ({c.name} {c.version}) is not built in {c.bin_dir}: "
                    f"run `kjs-testenv build --only {c.name}`"
                )
            return path
    raise KeyError(name)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


@contextmanager
def _step_log(path: Path) -> Iterator[None]:
    """Send the `go` commands' output to `path` (a new log per build) while the step runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        out.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}: build started\n")
        token = _STEP_LOG.set(out)
        try:
            yield
        finally:
            _STEP_LOG.reset(token)


def _elapsed(started: float) -> str:
    seconds = time.monotonic() - started
    return (
        f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds) // 60} min {seconds % 60:02.0f} s"
    )


def build(
    names: Sequence[str] | None = None,
    *,
    force: bool = False,
    log: Callable[[str], None] = _to_stderr,
) -> None:
    """Build the named components (all by default), skipping those already in the cache.

    `log` gets one line as each step starts and one as it ends (elapsed time, the step's log);
    a failed step raises a BuildError with the log's tail and its path."""
    if shutil.which("go") is None:
        raise RuntimeError("`go` is not on PATH: the test environment's servers are built with Go")
    chosen = [COMPONENTS[name] for name in names or list(COMPONENTS)]
    total = time.monotonic()
    for index, c in enumerate(chosen, 1):
        step = f"{c.name} {c.version} ({index}/{len(chosen)})"
        if c.is_built() and not force:
            built_by = f"; log: {c.log_path}" if c.log_path.is_file() else ""
            log(f"{step}: cached in {c.bin_dir}{built_by}")
            continue
        log(f"building {step}: {', '.join(c.binaries)}; log: {c.log_path} …")
        started = time.monotonic()
        try:
            with _step_log(c.log_path):
                staging = c.home / "bin.partial"
                shutil.rmtree(staging, ignore_errors=True)
                staging.mkdir(parents=True)
                c.build(c, c.home / "src", staging)
                # Only a complete build is ever seen under bin/.
                shutil.rmtree(c.bin_dir, ignore_errors=True)
                staging.rename(c.bin_dir)
        except Exception as e:
            log(f"{step}: failed after {_elapsed(started)}")
            raise BuildError(
                f"building {c.name} {c.version} failed: {e}\n"
                f"--- last lines of {c.log_path} ---\n{_tail(c.log_path)}\n"
                f"--- the whole log: {c.log_path}"
            ) from e
        log(f"{step}: built in {_elapsed(started)}; log: {c.log_path}")
    if len(chosen) > 1:
        log(f"test servers ready in {cache_root()} ({_elapsed(total)})")
