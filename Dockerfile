# syntax=docker/dockerfile:1
# kubeoffer's images: static, CGO-free binaries on a distroless, non-root
# base. One stage per image:
#
#   docker build --target master          -t kubeoffer/master:dev .
#   docker build --target agentd          -t kubeoffer/agentd:dev .
#   docker build --target example-batch   -t kubeoffer/example-batch:dev .
#   docker build --target example-service -t kubeoffer/example-service:dev .
#
# The default target is the master.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY controllers/ controllers/
COPY agentd/ agentd/
COPY pkg/ pkg/
COPY sdk/ sdk/
COPY examples/ examples/
COPY main.go ./
ARG TARGETOS=linux TARGETARCH=amd64
ENV CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH}
RUN go build -trimpath -ldflags='-s -w' -o /out/kubeoffer-master . && \
    go build -trimpath -ldflags='-s -w' -o /out/kubeoffer-agentd ./agentd && \
    go build -trimpath -ldflags='-s -w' -o /out/batch ./examples/batch && \
    go build -trimpath -ldflags='-s -w' -o /out/service ./examples/service

FROM gcr.io/distroless/static:nonroot AS agentd
COPY --from=build /out/kubeoffer-agentd /kubeoffer-agentd
USER 65532:65532
ENTRYPOINT ["/kubeoffer-agentd"]

FROM gcr.io/distroless/static:nonroot AS example-batch
COPY --from=build /out/batch /batch
USER 65532:65532
ENTRYPOINT ["/batch"]

FROM gcr.io/distroless/static:nonroot AS example-service
COPY --from=build /out/service /service
USER 65532:65532
ENTRYPOINT ["/service"]

FROM gcr.io/distroless/static:nonroot AS master
COPY --from=build /out/kubeoffer-master /kubeoffer-master
USER 65532:65532
ENTRYPOINT ["/kubeoffer-master"]
