# Self-check sample: untagged base image, MAINTAINER, unpinned apt and pip, ADD, cd, shell-form CMD.
FROM python:latest
MAINTAINER someone@example.com
RUN apt-get update && apt-get install -y curl
RUN cd /app && pip install flask
ADD . /app
CMD python app.py
