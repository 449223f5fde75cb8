//go:build tools

// Package tools pins the module's chosen dependencies while the packages that use them are
// being written, so that go mod tidy keeps them. Removed once every one is imported.
package tools

import (
	_ "github.com/coder/websocket"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/hashicorp/go-retryablehttp"
	_ "github.com/labstack/echo/v4"
	_ "github.com/patrickmn/go-cache"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/rueidis"
	_ "github.com/tinylib/msgp/msgp"
	_ "go.uber.org/goleak"
	_ "gopkg.in/yaml.v3"
)
