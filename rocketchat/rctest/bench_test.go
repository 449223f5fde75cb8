package rctest

import (
	"fmt"
	"testing"
)

// BenchmarkPostMessageFanout measures PostMessage until every logged-in DDP client has the
// stream-room-messages frame (and its __my_messages__, rooms-changed and
// subscriptions-changed frames are queued). Compare conns=20 against conns=1 in one run.
func BenchmarkPostMessageFanout(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			s := newTestServer(b, Options{PingInterval: 1 << 40, PingTimeout: 1 << 40})
			s.AddUser(UserSpec{Username: "poster"})
			clients := make([]*ddpClient, n)
			for i := range clients {
				name := fmt.Sprintf("u%d", i)
				uid := s.AddUser(UserSpec{Username: name})
				_, tok := s.LoginToken(name)
				c := dialDDP(b, s)
				c.send(`{"msg":"method","method":"login","params":[{"resume":"` + tok + `"}],"id":"l"}`)
				c.waitFor("login", func(f map[string]any) bool { return f["msg"] == "result" })
				for j, ev := range []string{"stream-room-messages GENERAL", "stream-room-messages __my_messages__",
					"stream-notify-user " + uid + "/rooms-changed", "stream-notify-user " + uid + "/subscriptions-changed"} {
					var name, event string
					fmt.Sscan(ev, &name, &event)
					c.send(fmt.Sprintf(`{"msg":"sub","id":"s%d","name":"%s","params":["%s",{"useCollection":false,"args":[]}]}`, j, name, event))
					c.waitFor("ready", func(f map[string]any) bool { return f["msg"] == "ready" })
				}
				clients[i] = c
			}
			b.ResetTimer()
			for b.Loop() {
				mid := s.PostMessage("GENERAL", "poster", "benchmark message")
				for _, c := range clients {
					c.waitFor("message", func(f map[string]any) bool {
						return f["msg"] == "changed" && path(f, "fields", "eventName") == "GENERAL" &&
							path(f, "fields", "args") != nil && path(f, "fields", "args").([]any)[0].(map[string]any)["_id"] == mid
					})
				}
			}
		})
	}
}
