package gateway

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is the gateway's own Prometheus registry. Values owned by other packages (hub
// connections, sessions) are read from their Stats at scrape time through statFuncs.
type metrics struct {
	reg      *prometheus.Registry
	httpReqs *prometheus.CounterVec
	httpDur  *prometheus.HistogramVec
	rcDur    *prometheus.HistogramVec
	rcErrs   *prometheus.CounterVec
	ready    prometheus.Gauge
}

// stat is one scrape-time value from another package.
type stat struct {
	name, help string
	counter    bool
	labels     map[string]string
	value      func() float64
}

func newMetrics(version, revision string) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.httpReqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rcgw_http_requests_total", Help: "HTTP requests by route, method and status code."}, []string{"method", "route", "code"})
	m.httpDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rcgw_http_request_duration_seconds", Help: "HTTP request duration by route.", Buckets: prometheus.DefBuckets}, []string{"method", "route"})
	m.rcDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rcgw_rocketchat_request_duration_seconds", Help: "Rocket.Chat REST call latency by endpoint.", Buckets: prometheus.DefBuckets}, []string{"endpoint"})
	m.rcErrs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rcgw_rocketchat_errors_total", Help: "Failed Rocket.Chat REST calls by endpoint and status (0: network)."}, []string{"endpoint", "code"})
	m.ready = prometheus.NewGauge(prometheus.GaugeOpts{Name: "rcgw_ready", Help: "1 while /readyz answers 200."})
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "rcgw_build_info", Help: "Build information.", ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()}})
	build.Set(1)
	m.reg.MustRegister(m.httpReqs, m.httpDur, m.rcDur, m.rcErrs, m.ready, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// addStats registers scrape-time values.
func (m *metrics) addStats(stats ...stat) {
	for _, s := range stats {
		opts := prometheus.GaugeOpts{Name: s.name, Help: s.help, ConstLabels: s.labels}
		var c prometheus.Collector
		if s.counter {
			c = prometheus.NewCounterFunc(prometheus.CounterOpts(opts), s.value)
		} else {
			c = prometheus.NewGaugeFunc(opts, s.value)
		}
		m.reg.MustRegister(c)
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// observeCall is rocketchat.ClientOptions.Observe: every logical Rocket.Chat call (facade,
// passthrough, agent and session manager share one client).
func (m *metrics) observeCall(endpoint string, status int, d time.Duration, err error) {
	m.rcDur.WithLabelValues(endpoint).Observe(d.Seconds())
	if err != nil || status >= 400 {
		m.rcErrs.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	}
}
