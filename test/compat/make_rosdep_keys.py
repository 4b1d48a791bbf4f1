"""Record which rosdep keys resolve on Ubuntu jammy (Humble) and noble (Jazzy), and which ROS packages
Humble and Jazzy release (run once per update):

    python test/compat/make_rosdep_keys.py --rosdistro GITDIR --out test/compat/rosdep_keys.json

GITDIR is a bare clone of ros/rosdistro. Only the keys named in KEYS are recorded.
"""

import argparse
import json
import subprocess

import yaml

KEYS = ["python3-torch", "python3-numpy", "python3-opencv", "python3-yaml", "python3-matplotlib", "python3-scipy",
        "python3-imageio", "python3-tqdm", "python3-pil", "python3-numba", "python3-pytest", "python3-pytest-timeout",
        "python3-safetensors", "python3-mujoco", "python3-onnx", "python3-onnxruntime", "python3-rosbags",
        "python3-mcap"]
UBUNTU = {"humble": "jammy", "jazzy": "noble"}


def resolves(entry, codename: str) -> bool:
    """Whether a rosdep/*.yaml entry gives an apt or pip package for this Ubuntu release."""
    ubuntu = entry.get("ubuntu") if isinstance(entry, dict) else None
    if ubuntu is None:
        return False
    if isinstance(ubuntu, dict) and codename in ubuntu:
        return ubuntu[codename] not in (None, [])
    if isinstance(ubuntu, dict) and any(k in ubuntu for k in ("apt", "pip", "packages")):
        return True
    if isinstance(ubuntu, dict) and "*" in ubuntu:
        return ubuntu["*"] not in (None, [])
    return isinstance(ubuntu, list) and bool(ubuntu)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rosdistro", required=True, metavar="GITDIR")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    def show(path: str) -> str:
        return subprocess.run(["git", "--git-dir", args.rosdistro, "show", f"HEAD:{path}"], check=True,
                              capture_output=True, text=True).stdout

    commit = subprocess.run(["git", "--git-dir", args.rosdistro, "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    rules = {**yaml.safe_load(show("rosdep/base.yaml")), **yaml.safe_load(show("rosdep/python.yaml"))}
    keys = {key: {distro: resolves(rules.get(key), codename) for distro, codename in UBUNTU.items()} for key in KEYS}
    packages = {}
    for distro in UBUNTU:
        released = yaml.safe_load(show(f"{distro}/distribution.yaml"))["repositories"]
        names = set()
        for name, repository in released.items():
            release = repository.get("release") or {}
            names.update(release.get("packages") or ([name] if release else []))
        packages[distro] = sorted(names)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump({"source": {"ros/rosdistro": commit}, "keys": keys, "ros_packages": packages}, out, indent=1,
                  sort_keys=True)
        out.write("\n")


if __name__ == "__main__":
    main()
