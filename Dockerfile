# unlearn-opt worker / CLI image (CUDA build of PyTorch from PyPI).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY unlearn_opt ./unlearn_opt
COPY studies ./studies
RUN pip install .
ENTRYPOINT ["unlearn-opt"]
CMD ["--help"]
