package gateway

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// JWKS holds the RSA keys of a JSON Web Key Set fetched from a URL: refreshed periodically
// by Run, and on demand when a token names an unknown kid, at most once per MinInterval.
type JWKS struct {
	url         string
	client      *http.Client
	refresh     time.Duration
	minInterval time.Duration
	log         *slog.Logger
	now         func() time.Time

	fetchMu sync.Mutex // one fetch at a time
	mu      sync.RWMutex
	keys    map[string]*rsa.PublicKey
	last    time.Time // last fetch attempt
}

// JWKSOptions configures NewJWKS.
type JWKSOptions struct {
	URL         string
	Client      *http.Client  // default: 10 s timeout
	Refresh     time.Duration // default 10 min
	MinInterval time.Duration // default 30 s between on-demand fetches
	Logger      *slog.Logger
}

// NewJWKS returns a key set that fetches on first use.
func NewJWKS(o JWKSOptions) *JWKS {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Refresh <= 0 {
		o.Refresh = 10 * time.Minute
	}
	if o.MinInterval <= 0 {
		o.MinInterval = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &JWKS{url: o.URL, client: o.Client, refresh: o.Refresh, minInterval: o.MinInterval, log: o.Logger, now: time.Now, keys: map[string]*rsa.PublicKey{}}
}

// Run refreshes the set every Refresh until ctx ends.
func (j *JWKS) Run(ctx context.Context) {
	t := time.NewTicker(j.refresh)
	defer t.Stop()
	for {
		if err := j.fetch(ctx); err != nil && ctx.Err() == nil {
			j.log.Warn("jwks refresh failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Key returns the key with this kid, fetching the set again when the kid is unknown and the
// last fetch is older than MinInterval.
func (j *JWKS) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if k := j.lookup(kid); k != nil {
		return k, nil
	}
	j.fetchMu.Lock()
	if k := j.lookup(kid); k != nil {
		j.fetchMu.Unlock()
		return k, nil
	}
	j.mu.RLock()
	recent := !j.last.IsZero() && j.now().Sub(j.last) < j.minInterval
	j.mu.RUnlock()
	var err error
	if !recent {
		err = j.fetchLocked(ctx)
	}
	j.fetchMu.Unlock()
	if k := j.lookup(kid); k != nil {
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("gateway: jwks: unknown kid %q", kid)
}

// All returns every key, for tokens without a kid.
func (j *JWKS) All() []*rsa.PublicKey {
	j.mu.RLock()
	defer j.mu.RUnlock()
	out := make([]*rsa.PublicKey, 0, len(j.keys))
	for _, k := range j.keys {
		out = append(out, k)
	}
	return out
}

func (j *JWKS) lookup(kid string) *rsa.PublicKey {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.keys[kid]
}

func (j *JWKS) fetch(ctx context.Context) error {
	j.fetchMu.Lock()
	defer j.fetchMu.Unlock()
	return j.fetchLocked(ctx)
}

func (j *JWKS) fetchLocked(ctx context.Context) error {
	j.mu.Lock()
	j.last = j.now()
	j.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return fmt.Errorf("gateway: jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return fmt.Errorf("gateway: jwks: fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("gateway: jwks: fetch: status %d", resp.StatusCode)
	}
	keys, err := ParseJWKS(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.keys = keys
	j.mu.Unlock()
	return nil
}

// ParseJWKS decodes the RSA signing keys of a JWK Set, keyed by kid ("" for a key without
// one). Keys of other types or uses are skipped.
func ParseJWKS(r io.Reader) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(r).Decode(&set); err != nil {
		return nil, fmt.Errorf("gateway: jwks: decode: %w", err)
	}
	out := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			continue
		}
		ei := int(new(big.Int).SetBytes(e).Int64())
		if ei < 3 {
			continue
		}
		out[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ei}
	}
	if len(out) == 0 {
		return nil, errors.New("gateway: jwks: no usable RSA signing key")
	}
	return out, nil
}
