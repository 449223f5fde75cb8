# syntax=docker/dockerfile:1
# rcgateway: a static Go binary (the web UI is embedded from the committed web/dist, so
# no Node stage is needed) on distroless, running as the unprivileged user 65532.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/rcgateway ./cmd/rcgateway

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rcgateway /usr/local/bin/rcgateway
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/rcgateway"]
CMD ["serve"]
