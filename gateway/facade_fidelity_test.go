package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// TestFacadeResendRecognisesRealAnswer: Rocket.Chat answers a resent _id with a 400 TypeError
// text (apps/meteor/app/lib/server/functions/sendMessage.ts), not E11000; the facade answers the
// caller's stored message, and refuses (409) when the id holds somebody else's message.
func TestFacadeResendRecognisesRealAnswer(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.token("alice")
	var first, again struct{ Message map[string]any }
	if st := f.do("POST", "/api/im/rooms/GENERAL/messages", alice, map[string]string{"id": "c-9", "text": "once"}, &first); st != 201 {
		t.Fatalf("send: %d", st)
	}
	if st := f.do("POST", "/api/im/rooms/GENERAL/messages", alice, map[string]string{"id": "c-9", "text": "once"}, &again); st != 201 || again.Message["_id"] != first.Message["_id"] {
		t.Fatalf("resend: %d %v", st, again)
	}
	if n := len(f.rc.Messages("GENERAL")); n != 1 {
		t.Fatalf("stored %d messages, want 1", n)
	}
	// bob's message sits at the id alice's client id maps to: never hand it to alice.
	aliceID := f.rc.UserID("alice")
	taken := messageID(aliceID, "c-10")
	uid, tok := f.rc.LoginToken("bob")
	body, _ := json.Marshal(map[string]any{"message": map[string]any{"_id": taken, "rid": "GENERAL", "msg": "bob's"}})
	req, _ := http.NewRequest("POST", f.rc.URL()+"/api/v1/chat.sendMessage", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User-Id", uid)
	req.Header.Set("X-Auth-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("bob's send: %v %v", resp, err)
	}
	resp.Body.Close()
	var out map[string]any
	if st := f.do("POST", "/api/im/rooms/GENERAL/messages", alice, map[string]string{"id": "c-10", "text": "mine"}, &out); st != 409 {
		t.Fatalf("send onto bob's id: %d %v, want 409", st, out)
	}
}

// TestFacadeHistoryListsThreadReplies: channels.history and im.history hide thread replies
// unless showThreadMessages=true while groups.history shows them (channels.ts, im.ts,
// groups.ts under apps/meteor/app/api/server/v1); the facade lists them for every room
// type, as the live pushes carry them, each with its tmid.
func TestFacadeHistoryListsThreadReplies(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.token("alice")
	rooms := map[string]string{
		"channel": f.rc.AddRoom(rctest.RoomSpec{Type: "c", Name: "pub", Members: []string{"alice", "bob"}}),
		"group":   f.rc.AddRoom(rctest.RoomSpec{Type: "p", Name: "priv", Members: []string{"alice", "bob"}}),
		"dm":      f.rc.DirectRoom("alice", "bob"),
	}
	for kind, rid := range rooms {
		parent := f.rc.PostMessage(rid, "bob", "question")
		reply := f.rc.PostReply(parent, "alice", "answer")
		var hist struct{ Messages []map[string]any }
		if st := f.do("GET", "/api/im/rooms/"+rid+"/messages", alice, nil, &hist); st != 200 {
			t.Fatalf("%s history: %d", kind, st)
		}
		var found bool
		for _, m := range hist.Messages {
			if m["_id"] == reply {
				found = m["tmid"] == parent
			}
		}
		if !found {
			t.Errorf("%s: history %v lacks the thread reply %s", kind, hist.Messages, reply)
		}
	}
}

// TestFacadeNotAllowedIs403: Rocket.Chat's "not allowed" answers (400 error-action-not-allowed
// from deleteMessage, 403 from API.v1.forbidden(), rooms.info's not-allowed) reach the client
// as 403, not 502 upstream_auth.
func TestFacadeNotAllowedIs403(t *testing.T) {
	for _, v := range []string{"7.10.0", "8.8.1", "9.0.0"} {
		t.Run(v, func(t *testing.T) {
			f := newFixtureVersion(t, v)
			alice, bob := f.token("alice"), f.token("bob")
			var sent struct{ Message map[string]any }
			if st := f.do("POST", "/api/im/rooms/GENERAL/messages", alice, map[string]string{"text": "alice's"}, &sent); st != 201 {
				t.Fatalf("send: %d", st)
			}
			var e map[string]string
			if st := f.do("DELETE", "/api/im/rooms/GENERAL/messages/"+sent.Message["_id"].(string), bob, nil, &e); st != 403 || e["error"] != "forbidden" {
				t.Fatalf("bob deletes alice's message: %d %v, want 403 forbidden", st, e)
			}
			secret := f.rc.AddRoom(rctest.RoomSpec{Type: "p", Name: "secret", Owner: "alice"})
			if st := f.do("GET", "/api/im/rooms/"+secret+"/messages", bob, nil, &e); st != 403 {
				t.Fatalf("bob reads a private room: %d %v, want 403", st, e)
			}
			if st, out := uploadFile(t, f, bob, secret, "a.txt", "", []byte("x")); st != 403 {
				t.Fatalf("bob uploads into a private room: %d %v, want 403", st, out)
			}
			// Not allowed is not a dead token (9.x answers a permission check 401
			// "... [error-unauthorized]"): no new token is minted for it.
			if n := f.srv.sessions.(*fakeSessions).refreshes.Load(); n != 0 {
				t.Fatalf("%d token refreshes for answers that were 'not allowed'", n)
			}
		})
	}
}

// TestFacadeHistoryHasMoreAtCap: the server caps count at 100 (getPaginationItems.ts), so
// asking count+1 at count=100 always said hasMore=false.
func TestFacadeHistoryHasMoreAtCap(t *testing.T) {
	f := newFixture(t, nil)
	bob := f.token("bob")
	for i := range 101 {
		f.rc.PostMessage("GENERAL", "alice", fmt.Sprint("m", i))
	}
	var hist struct {
		Messages []map[string]any
		HasMore  bool
	}
	if st := f.do("GET", "/api/im/rooms/GENERAL/messages?count=100", bob, nil, &hist); st != 200 || len(hist.Messages) != 100 || !hist.HasMore {
		t.Fatalf("count=100 of 101: %d, %d messages, hasMore %v", st, len(hist.Messages), hist.HasMore)
	}
	f.rc.DeleteMessage(f.rc.Messages("GENERAL")[0].ID)
	if st := f.do("GET", "/api/im/rooms/GENERAL/messages?count=100", bob, nil, &hist); st != 200 || len(hist.Messages) != 100 || hist.HasMore {
		t.Fatalf("count=100 of 100: %d, %d messages, hasMore %v", st, len(hist.Messages), hist.HasMore)
	}
}

// TestFacadeUploadSendsRealType: an image uploaded through the facade becomes an image
// attachment (image_url, image_type, image_dimensions), as parseFileIntoMessageAttachments
// (apps/meteor/app/file-upload/server/methods/sendFileMessage.ts) makes for image/* only.
func TestFacadeUploadSendsRealType(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.token("alice")
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 3, 2))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, partType, want string }{
		{"pic.png", "application/octet-stream", "image/png"}, // browser gave nothing specific: from the extension
		{"pic.bin", "image/png", "image/png"},                // browser's specific type wins
	} {
		st, out := uploadFile(t, f, alice, "GENERAL", tc.name, tc.partType, img.Bytes())
		if st != 201 {
			t.Fatalf("%s: upload %d %v", tc.name, st, out)
		}
		msg, _ := out["message"].(map[string]any)
		atts, _ := msg["attachments"].([]any)
		if len(atts) != 1 {
			t.Fatalf("%s: attachments %v", tc.name, msg)
		}
		att := atts[0].(map[string]any)
		dims, _ := att["image_dimensions"].(map[string]any)
		if att["image_type"] != tc.want || att["image_url"] == nil || dims["width"] != float64(3) || dims["height"] != float64(2) {
			t.Fatalf("%s: attachment %v, want an %s image attachment 3x2", tc.name, att, tc.want)
		}
		if file, _ := msg["file"].(map[string]any); file["type"] != tc.want {
			t.Fatalf("%s: file %v", tc.name, file)
		}
	}
	st, out := uploadFile(t, f, alice, "GENERAL", "notes.txt", "", []byte("hello"))
	att := out["message"].(map[string]any)["attachments"].([]any)[0].(map[string]any)
	if st != 201 || att["image_url"] != nil || att["format"] != "txt" || att["title_link"] == nil {
		t.Fatalf("text upload: %d %v", st, att)
	}
}

func newFixtureVersion(t *testing.T, version string) *fixture {
	t.Helper()
	rc := rctest.New(rctest.Options{Version: version})
	t.Cleanup(rc.Close)
	rc.AddUser(rctest.UserSpec{Username: "alice", Name: "Alice"})
	rc.AddUser(rctest.UserSpec{Username: "bob", Name: "Bob"})
	return newFixtureWith(t, rc, nil)
}

// uploadFile posts a multipart upload to the facade; partType "" sends the part without a
// Content-Type header.
func uploadFile(t *testing.T, f *fixture, token, rid, name, partType string, data []byte) (int, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	if partType != "" {
		h.Set("Content-Type", partType)
	}
	w, _ := mw.CreatePart(h)
	_, _ = w.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", f.http.URL+"/api/im/rooms/"+rid+"/files", &buf)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// A user token Rocket.Chat no longer accepts (revoked, logged out, pushed out by the token
// cap) is replaced once on every facade call, sending and uploading included, as withCreds
// does for the others: otherwise the dead cached token would fail each call until it ages out.
func TestFacadeRevokedTokenIsReplacedOnSendAndUpload(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.token("alice")
	if st := f.do("GET", "/api/im/me", alice, nil, nil); st != 200 {
		t.Fatalf("me: %d", st)
	}
	f.rc.RevokeTokens("alice")
	if st := f.do("POST", "/api/im/rooms/GENERAL/messages", alice, map[string]string{"id": "c-1", "text": "after revoke"}, nil); st != 201 {
		t.Fatalf("send after revocation: %d, want 201", st)
	}
	f.rc.RevokeTokens("alice")
	if st, out := uploadFile(t, f, alice, "GENERAL", "a.txt", "text/plain", []byte("hello")); st != 201 {
		t.Fatalf("upload after revocation: %d %v, want 201", st, out)
	}
}
