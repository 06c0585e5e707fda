# unlearn-opt worker / CLI image (CUDA build of PyTorch from PyPI), with boto3 for s3:// artifact
# stores. Build: `docker build -t unlearn-opt .`; docker-compose.yml builds it for you.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# 1. The dependencies, in a layer of their own: it is rebuilt only when pyproject.toml changes,
#    not on every code change (torch is gigabytes).
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['s3']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt

# 2. The project itself (no dependency is downloaded here).
COPY README.md ./
COPY unlearn_opt ./unlearn_opt
COPY studies ./studies
RUN pip install --no-deps . && pip check

# 3. A non-root user; /artifacts (the compose volume) and storage/ belong to it.
RUN useradd --create-home --uid 1000 unlearn && mkdir -p /artifacts /app/storage && chown unlearn /artifacts /app/storage
USER unlearn
ENTRYPOINT ["unlearn-opt"]
CMD ["--help"]
