// Package rctest is an in-process Rocket.Chat simulator for tests: REST under /api/v1 and the
// Realtime API (Meteor DDP) at /websocket, written from specs/rocketchat-protocol.md with
// literal JSON shapes.
//
// It owns a small in-memory world (users, login tokens, rooms, subscriptions, messages), the
// wire behaviour of Rocket.Chat 6.x/7.x/8.x for the endpoints and streams the gateway uses, and
// control hooks for tests (fault injection, latency, request log). It does not know the
// gateway's client packages and must never import them: a simulator that shares the client's
// types agrees with the client's bugs.
//
// Behaviour worth knowing when writing tests against it:
//   - Every user joins GENERAL unless UserSpec.NoDefaultChannels. The admin exists from the
//     start (Options.AdminUsername/AdminPassword) and is "old", so 2FA applies to it.
//   - Unread counts follow Unread_Count (default: mentions only in channels and groups, all
//     messages in DMs; thread-only replies never count), desktop notifications the default
//     preference "all" with per-subscription preferences (SetNotificationPrefs); see notify.go.
//   - Joins, leaves, invitations and kicks save system messages (uj, ul, au, ru) that reach
//     members on stream-room-messages but do not become the room's lastMessage.
//   - channels.history and im.history leave thread replies out unless showThreadMessages=true;
//     groups.history keeps them unless showThreadMessages=false. Deleting a message with
//     thread replies leaves a t:"rm" placeholder and sends no deleteMessage.
//   - DDP: "updated" precedes "result" unless Options.ResultBeforeUpdated. A resume with a
//     personal access token answers tokenExpires {"$date":null} (PATs have no creation stamp).
//   - chat.sendMessage with an _id that exists answers 400 with the TypeError text real
//     Rocket.Chat produces (sendMessage skips the insert, normalizeMessagesForUser then reads a
//     field of undefined), no errorType, whoever owns the stored message.
//   - Version-dependent REST rules (Options.Version: 7.x, 8.0-8.6, 8.7+, 9.x) are listed in
//     docs/rocketchat-versions.md; each rule names its Rocket.Chat source file in a comment.
//   - Removing a token (logout, revoke, token cap, deactivation) closes the DDP connections
//     that logged in with it, with no frame first.
//   - REST password logins are blocked for 5 min after 10 failures for a username or 50 from
//     an IP (Block_Multiple_Failed_Logins).
//   - DDP "sub" is rate limited as Rocket.Chat does by default (DDPRateLimit): over the limit
//     the answer is nosub with error too-many-requests.
//   - Not simulated: DDP method rate limits, password policy, email,
//     read receipts, "busy" suppression of notifications, a connection's own away (presence.go), image
//     thumbnails, userHighlights, unread threads (tunread), the unread 1 a joining member's
//     subscription starts with, room renames (system message "r").
package rctest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a simulator. The zero value is a Rocket.Chat 8.0.1 with the rate limiter
// and 2FA off.
type Options struct {
	// Version is what /api/info reports and selects version-dependent behaviour
	// (users.createToken secret on 8.x+, rooms.upload before 8.0, rooms.media from 7.0,
	// 401 bodies). Default "8.0.1".
	Version string
	// RateLimit turns on the REST rate limiter (RateLimitCalls per RateLimitWindow per route,
	// method and client IP; admin and bot users bypass it).
	RateLimit       bool
	RateLimitCalls  int           // default 10
	RateLimitWindow time.Duration // default 60 s
	// TwoFactor enables Rocket.Chat's default 2FA: password logins of users with a verified
	// email fail with totp-required, and twoFactorRequired endpoints (users.update, and
	// users.create on 8.x) need x-2fa-method: password + x-2fa-code: sha256(password),
	// unless the token is a personal access token (bypassTwoFactor).
	TwoFactor bool
	// CreateTokenSecret is CREATE_TOKENS_FOR_USERS_SECRET (8.x+). Empty means unset, so
	// users.createToken fails with error-not-authorized on 8.x.
	CreateTokenSecret string
	// CreateTokensDisabled models CREATE_TOKENS_FOR_USERS unset on 6.x/7.x (default: set).
	CreateTokensDisabled bool
	// PingInterval is how long the server waits for client silence before sending a DDP
	// ping; PingTimeout how long it then waits before closing. Defaults 15 s and 15 s.
	PingInterval, PingTimeout time.Duration
	// ShowDeletedStatus is Message_ShowDeletedStatus: deleted messages become t:"rm"
	// placeholders re-emitted on stream-room-messages instead of notify-room deleteMessage.
	ShowDeletedStatus bool
	// ResultBeforeUpdated sends a method's "result" before its "updated" frame. By default
	// "updated" comes first, which is legal and catches clients assuming an order.
	ResultBeforeUpdated bool
	// TokenExpiry is Accounts_LoginExpiration (default 90 days). MaxLoginTokens is
	// MAX_RESUME_LOGIN_TOKENS (default 50).
	TokenExpiry    time.Duration
	MaxLoginTokens int
	// AdminUsername and AdminPassword create the bootstrap admin (defaults "admin" and
	// "admin-pass"), as ADMIN_USERNAME/ADMIN_PASS do.
	AdminUsername, AdminPassword string
	// Addr is the listen address (default "127.0.0.1:0").
	Addr string
	// Logger receives the simulator's own log lines (never tokens). Default: discard.
	Logger *slog.Logger
	// DDPRateLimit is the DDP subscription rate limiter, on by default with Rocket.Chat's
	// defaults (40 stream subscriptions per 40 s per connection and publication name).
	DDPRateLimit DDPRateLimit
	// UnreadCount and UnreadCountDM are the Unread_Count and Unread_Count_DM settings
	// (apps/meteor/server/settings/general.ts): what raises a subscription's unread in
	// channels and groups (default UnreadUserGroupMention: mentions only) and in direct
	// messages (default UnreadAll).
	UnreadCount, UnreadCountDM string
	// DesktopNotifications is Accounts_Default_User_Preferences_desktopNotifications
	// (apps/meteor/server/settings/accounts.ts): "all" (default), "mentions" or "nothing".
	DesktopNotifications string
	// MaxRoomMembersForNotification is Notifications_Max_Room_Members (default 100).
	MaxRoomMembersForNotification int
	// HideSystemMessages is Hide_System_Messages (default none): message types that
	// channels/groups/im.history leave out.
	HideSystemMessages []string
	// SearchAlwaysRegExp is Message_AlwaysSearchRegExp (default false): chat.search takes the
	// text as a regular expression instead of escaping it (search.go).
	SearchAlwaysRegExp bool
	// CustomEmoji names custom emoji (EmojiCustom) chat.react accepts besides the built-in
	// short names (messages.go knownEmoji).
	CustomEmoji []string
}

// UserSpec describes a user added with AddUser.
type UserSpec struct {
	Username, Name, Email, Password string
	Roles                           []string // default ["user"]
	EmailVerified                   bool     // with Options.TwoFactor, password login then needs email 2FA
	NoDefaultChannels               bool     // do not join GENERAL
}

// RoomSpec describes a room added with AddRoom. Type is "c" (public channel) or "p"
// (private group); use DirectRoom for "d".
type RoomSpec struct {
	Type, Name string
	Members    []string // usernames
	Owner      string   // username; default: the admin
}

// Request is one entry of the REST request log. It never holds tokens or query strings.
type Request struct {
	Method string
	Path   string
	Status int
	UserID string
	Time   time.Time
}

// Subscription is a snapshot of one user's subscription to a room.
type Subscription struct {
	ID, RoomID, RoomType, Name string
	Open, Alert                bool
	Unread, UserMentions       int
	GroupMentions              int
	LastSeen, UpdatedAt        time.Time
}

// Message is a snapshot of a stored message.
type Message struct {
	ID, RoomID, Text, Username string
	ThreadID                   string
	Type                       string
	Time, UpdatedAt, EditedAt  time.Time
	ThreadCount                int // tcount: replies in this message's thread
}

// Server is a running simulator. All methods are safe for concurrent use.
type Server struct {
	opts  Options
	major int
	minor int
	log   *slog.Logger
	hs    *httptest.Server

	mu          sync.Mutex
	closed      bool
	users       map[string]*user // by id
	byName      map[string]*user // by username
	rooms       map[string]*room
	subs        map[string]*sub // key uid+"|"+rid
	msgs        map[string]*message
	roomMsgs    map[string][]*message
	deletedMsgs map[string][]deletion // rid -> deleted messages
	removedSubs map[string][]deletion // uid -> removed subscriptions
	files       map[string]*upload
	conns       map[*conn]struct{}
	streams     map[string]map[*streamSub]*conn // stream name + event -> subscriptions
	rt          map[string]route
	vals        map[string]validation // request validators by "METHOD endpoint" (validate.go)
	limits      map[string]*window
	loginFails  map[string][]time.Time // "user|name" / "ip|addr" -> failure times
	fails       map[string]*failRule
	latency     time.Duration
	requests    []Request
	adminID     string
	ddpRules    []*ddpRule

	wg sync.WaitGroup // DDP connection goroutines
}

type user struct {
	id, username, name, email, password string
	emailVerified                       bool
	roles                               []string
	active                              bool
	createdAt, updatedAt                time.Time
	tokens                              []*loginToken
	statusDefault, statusText           string // users.setStatus (presence.go); "" default is online
}

type loginToken struct {
	token     string
	when      time.Time
	pat       bool
	name      string
	bypass2FA bool
	expired   bool
}

type room struct {
	id, t, name, fname string
	owner              string // uid; empty for DMs
	ts, updatedAt, lm  time.Time
	msgs               int
	lastMessage        *message
	members            []string // uids in join order
	isDefault, ro      bool
}

type sub struct {
	id, rid, uid                 string
	ts, ls, updatedAt            time.Time
	open, alert                  bool
	unread, userMentions, groupM int
	roles                        []string
	// Notification preferences (rooms.saveNotification); empty means the user's default.
	desktopNotifications                    string
	disableNotifications, muteGroupMentions bool
}

type message struct {
	id, rid, msg, uid, tmid, t string
	ts, updatedAt, editedAt    time.Time
	editedBy                   string
	mentions                   []string // uids
	file                       *upload
	tshow                      bool // a thread reply also shown in the room
	system                     bool // saved by saveSystemMessage (groupable: false)
	tcount                     int
	tlm                        time.Time
	replies                    []string            // uids of thread participants
	reactions                  map[string][]string // ":emoji:" -> usernames
}

type deletion struct {
	id string
	at time.Time
}

type upload struct {
	id, rid, uid, name, mime string
	desc                     string
	size                     int
	confirmed                bool
	data                     []byte
	uploadedAt               time.Time
	// identified: the image header decoded (Rocket.Chat's identify step): format, width, height.
	identified    bool
	format        string
	width, height int
}

type window struct {
	start time.Time
	count int
}

type failRule struct {
	status, times int
}

// New starts a simulator on a loopback port (Options.Addr) with the bootstrap admin, the
// GENERAL channel and nothing else. It panics if it cannot listen. Close it when done.
func New(opts Options) *Server {
	s, err := Start(opts)
	if err != nil {
		panic(err)
	}
	return s
}

// Start is New returning the listen error instead of panicking (for cmd/rcsim).
func Start(opts Options) (*Server, error) {
	s := newServer(opts)
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("rctest: listen %s: %w", s.opts.Addr, err)
	}
	s.hs = httptest.NewUnstartedServer(s.Handler())
	s.hs.Listener.Close()
	s.hs.Listener = ln
	s.hs.Start()
	return s, nil
}

func newServer(opts Options) *Server {
	if opts.Version == "" {
		opts.Version = "8.0.1"
	}
	if opts.RateLimitCalls <= 0 {
		opts.RateLimitCalls = 10
	}
	if opts.RateLimitWindow <= 0 {
		opts.RateLimitWindow = time.Minute
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 15 * time.Second
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 15 * time.Second
	}
	if opts.TokenExpiry <= 0 {
		opts.TokenExpiry = 90 * 24 * time.Hour
	}
	if opts.MaxLoginTokens <= 0 {
		opts.MaxLoginTokens = 50
	}
	if opts.AdminUsername == "" {
		opts.AdminUsername = "admin"
	}
	if opts.AdminPassword == "" {
		opts.AdminPassword = "admin-pass"
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.UnreadCount == "" {
		opts.UnreadCount = UnreadUserGroupMention
	}
	if opts.UnreadCountDM == "" {
		opts.UnreadCountDM = UnreadAll
	}
	if opts.DesktopNotifications == "" {
		opts.DesktopNotifications = "all"
	}
	if opts.MaxRoomMembersForNotification <= 0 {
		opts.MaxRoomMembersForNotification = 100
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		opts:        opts,
		log:         log,
		users:       map[string]*user{},
		byName:      map[string]*user{},
		rooms:       map[string]*room{},
		subs:        map[string]*sub{},
		msgs:        map[string]*message{},
		roomMsgs:    map[string][]*message{},
		deletedMsgs: map[string][]deletion{},
		removedSubs: map[string][]deletion{},
		files:       map[string]*upload{},
		conns:       map[*conn]struct{}{},
		streams:     map[string]map[*streamSub]*conn{},
		limits:      map[string]*window{},
		loginFails:  map[string][]time.Time{},
		fails:       map[string]*failRule{},
	}
	s.major, s.minor = parseVersion(opts.Version)
	s.ddpRules = newDDPRules(opts.DDPRateLimit, time.Now())
	s.rt = s.routes()
	s.vals = s.validations()
	now := time.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rooms["GENERAL"] = &room{id: "GENERAL", t: "c", name: "general", ts: now, updatedAt: now, isDefault: true}
	// The bootstrap admin is inserted directly (no email 2FA) and is old enough that the
	// "new account" 2FA exemption does not apply.
	a := s.addUserLocked(UserSpec{Username: opts.AdminUsername, Name: "Administrator",
		Email: opts.AdminUsername + "@rctest.invalid", Password: opts.AdminPassword, Roles: []string{"admin"}})
	a.createdAt = now.Add(-24 * time.Hour)
	s.adminID = a.id
	s.rooms["GENERAL"].owner = a.id
	return s
}

func parseVersion(v string) (major, minor int) {
	parts := strings.SplitN(v, ".", 3)
	major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	return major, minor
}

// URL is the base URL (http://127.0.0.1:port), what the gateway calls the Rocket.Chat URL.
func (s *Server) URL() string { return s.hs.URL }

// WebSocketURL is the DDP endpoint (ws://127.0.0.1:port/websocket).
func (s *Server) WebSocketURL() string {
	return "ws" + strings.TrimPrefix(s.hs.URL, "http") + "/websocket"
}

// AdminCredentials returns the bootstrap admin's username and password.
func (s *Server) AdminCredentials() (username, password string) {
	return s.opts.AdminUsername, s.opts.AdminPassword
}

// Close closes every DDP connection, stops the HTTP server and waits for all goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	if s.hs != nil {
		s.hs.CloseClientConnections()
		s.hs.Close()
	}
	s.wg.Wait()
}

// AddUser creates a user (joining GENERAL unless NoDefaultChannels) and returns its id.
// It panics on a duplicate username: that is a bug in the test.
func (s *Server) AddUser(spec UserSpec) (userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byName[spec.Username]; dup || spec.Username == "" {
		panic(fmt.Sprintf("rctest: AddUser: username %q empty or taken", spec.Username))
	}
	u := s.addUserLocked(spec)
	return u.id
}

func (s *Server) addUserLocked(spec UserSpec) *user {
	now := time.Now().UTC()
	roles := spec.Roles
	if len(roles) == 0 {
		roles = []string{"user"}
	}
	name := spec.Name
	if name == "" {
		name = spec.Username
	}
	email := spec.Email
	if email == "" {
		email = spec.Username + "@rctest.invalid"
	}
	u := &user{id: randomID(), username: spec.Username, name: name, email: email, password: spec.Password,
		emailVerified: spec.EmailVerified, roles: slices.Clone(roles), active: true, createdAt: now, updatedAt: now}
	s.users[u.id] = u
	s.byName[u.username] = u
	if !spec.NoDefaultChannels {
		for _, r := range s.rooms {
			if r.isDefault {
				s.joinLocked(r, u, now)
			}
		}
	}
	return u
}

// AddRoom creates a public ("c") or private ("p") room with an owner and members and returns
// its id. It panics on unknown usernames or a taken name.
func (s *Server) AddRoom(spec RoomSpec) (rid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	owner := s.opts.AdminUsername
	if spec.Owner != "" {
		owner = spec.Owner
	}
	o := s.mustUser(owner)
	if spec.Type != "c" && spec.Type != "p" {
		panic(fmt.Sprintf("rctest: AddRoom: type %q is not c or p", spec.Type))
	}
	if s.roomByName(spec.Name) != nil {
		panic(fmt.Sprintf("rctest: AddRoom: name %q taken", spec.Name))
	}
	members := []*user{o}
	for _, m := range spec.Members {
		members = append(members, s.mustUser(m))
	}
	r := s.createRoomLocked(spec.Type, spec.Name, o, members)
	return r.id
}

// DirectRoom returns the id of the direct-message room between two users, creating it (with
// both subscriptions) if needed.
func (s *Server) DirectRoom(a, b string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.directRoomLocked(s.mustUser(a), s.mustUser(b)).id
}

// PostMessage stores a message from username in rid and emits every stream event Rocket.Chat
// emits for it. It panics if the user or room does not exist.
func (s *Server) PostMessage(rid, username, text string) (msgID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(username)
	r := s.rooms[rid]
	if r == nil {
		panic(fmt.Sprintf("rctest: PostMessage: no room %q", rid))
	}
	return s.insertMessageLocked(r, u, randomID(), text, "", nil).id
}

// PostReply stores a reply from username to the thread of message tmid (in its room), with
// every stream event Rocket.Chat emits for it. It panics if the user or message is unknown.
func (s *Server) PostReply(tmid, username, text string) (msgID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(username)
	parent := s.msgs[tmid]
	if parent == nil {
		panic(fmt.Sprintf("rctest: PostReply: no message %q", tmid))
	}
	return s.insertMessageLocked(s.rooms[parent.rid], u, randomID(), text, tmid, nil).id
}

// AddMember subscribes username to rid as the admin's channels.invite would, emitting the
// join events and the "au" system message (added by the admin).
func (s *Server) AddMember(rid, username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(username)
	r := s.rooms[rid]
	if r == nil {
		panic(fmt.Sprintf("rctest: AddMember: no room %q", rid))
	}
	if !s.isMember(u.id, r) {
		s.addToRoomLocked(r, u, s.users[s.adminID])
	}
}

// RemoveMember unsubscribes username from rid as the admin's kick would, emitting the "ru"
// system message (removed by the admin) and the leave events.
func (s *Server) RemoveMember(rid, username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(username)
	if r := s.rooms[rid]; r != nil {
		s.removeFromRoomLocked(r, u, s.users[s.adminID])
	}
}

// MarkRead marks username's subscription to rid read (as subscriptions.read would).
func (s *Server) MarkRead(username, rid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb := s.sub(s.mustUser(username).id, rid); sb != nil {
		s.markReadLocked(sb)
	}
}

// EditMessage changes a message's text as its author and emits the edit events.
func (s *Server) EditMessage(mid, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs[mid]
	if m == nil {
		panic(fmt.Sprintf("rctest: EditMessage: no message %q", mid))
	}
	s.editMessageLocked(m, s.users[m.uid], text)
}

// DeleteMessage deletes a message and emits deleteMessage on stream-notify-room.
func (s *Server) DeleteMessage(mid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs[mid]
	if m == nil {
		panic(fmt.Sprintf("rctest: DeleteMessage: no message %q", mid))
	}
	s.deleteMessageLocked(m, s.users[m.uid])
}

// LoginToken mints a normal (expiring, capped) resume token for username, as a password login
// or users.createToken would.
func (s *Server) LoginToken(username string) (userID, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(username)
	return u.id, s.addTokenLocked(u, false, "").token
}

// CreatePAT mints a personal access token (never expires, not capped, bypasses 2FA).
func (s *Server) CreatePAT(username string) (userID, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(username)
	return u.id, s.addTokenLocked(u, true, "pat-"+randomID()).token
}

// CreatePATNoBypass mints a personal access token created without "Ignore Two Factor
// Authentication" (bypassTwoFactor false, users.generatePersonalAccessToken's default):
// twoFactorRequired endpoints still ask it for a second factor.
func (s *Server) CreatePATNoBypass(username string) (userID, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(username)
	t := s.addTokenLocked(u, true, "pat-"+randomID())
	t.bypass2FA = false
	return u.id, t.token
}

// ExpireTokens makes every non-PAT token of username expired (resume then fails with "Your
// session has expired"). Open connections stay open, as on a real server until its cleanup job.
func (s *Server) ExpireTokens(username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.mustUser(username).tokens {
		if !t.pat {
			t.expired = true
		}
	}
}

// RevokeTokens removes all of username's tokens (as users.logout does), closing every DDP
// connection logged in with them, with no DDP frame first.
func (s *Server) RevokeTokens(username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(username)
	for len(u.tokens) > 0 {
		s.removeTokenLocked(u, u.tokens[0].token)
	}
}

// ForceLogout models an admin "log out this device" (device management, TOTP/E2E reset):
// stream-notify-user <uid>/force_logout with args [] to the user's subscribed connections,
// then all tokens are removed, which closes the sockets.
func (s *Server) ForceLogout(username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(username)
	s.emitStream("stream-notify-user", u.id+"/force_logout", []any{}, func(c *conn) bool { return c.uid == u.id }, nil)
	for len(u.tokens) > 0 {
		s.removeTokenLocked(u, u.tokens[0].token)
	}
}

// DropConnections closes every DDP connection (a network blip; tokens stay valid).
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.close()
	}
}

// FailNext makes the next `times` REST calls to endpoint (e.g. "chat.sendMessage" or
// "/api/v1/chat.sendMessage") answer with status and Rocket.Chat's body for that status,
// without doing anything. An injected 429 carries X-RateLimit-* headers whose reset is 1 s
// away; 400 answers errorType "error-simulated"; 401, 403 and 404 get their usual bodies;
// any other status gets the 500 body ("Internal server error"). Endpoint "websocket" makes
// the next DDP upgrades fail with that HTTP status instead.
func (s *Server) FailNext(endpoint string, status, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[normalizeEndpoint(endpoint)] = &failRule{status: status, times: times}
}

// SetLatency delays every REST response (and DDP method answer) by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetRateLimit switches the REST rate limiter at run time; calls/window <= 0 keep the current
// values. Existing windows are forgotten.
func (s *Server) SetRateLimit(enabled bool, calls int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.RateLimit = enabled
	if calls > 0 {
		s.opts.RateLimitCalls = calls
	}
	if window > 0 {
		s.opts.RateLimitWindow = window
	}
	clear(s.limits)
}

// Requests returns a copy of the REST request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// DDPConnections counts the open DDP connections logged in as userID.
func (s *Server) DDPConnections(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.uid == userID && !c.closing {
			n++
		}
	}
	return n
}

// StreamSubscribers returns how many DDP subscriptions of userID follow the stream name with
// event (e.g. "stream-notify-room", "<rid>/deleteMessageBulk"), for tests that must know a
// subscription is in place before they cause its event.
func (s *Server) StreamSubscribers(userID, name, event string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.streams[streamKey(name, event)] {
		if c.uid == userID && !c.closing {
			n++
		}
	}
	return n
}

// TokenCount returns how many login tokens (PATs included) username holds.
func (s *Server) TokenCount(username string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mustUser(username).tokens)
}

// UserID returns the id of username, or "".
func (s *Server) UserID(username string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.byName[username]; u != nil {
		return u.id
	}
	return ""
}

// Subscription returns a snapshot of username's subscription to rid; ok is false if none.
func (s *Server) Subscription(username, rid string) (Subscription, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.byName[username]
	if u == nil {
		return Subscription{}, false
	}
	sb := s.subs[u.id+"|"+rid]
	if sb == nil {
		return Subscription{}, false
	}
	r := s.rooms[rid]
	name, _ := s.subNames(sb, r)
	return Subscription{ID: sb.id, RoomID: rid, RoomType: r.t, Name: name, Open: sb.open, Alert: sb.alert,
		Unread: sb.unread, UserMentions: sb.userMentions, GroupMentions: sb.groupM, LastSeen: sb.ls,
		UpdatedAt: sb.updatedAt}, true
}

// Messages returns the messages of rid, oldest first.
func (s *Server) Messages(rid string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.roomMsgs[rid] {
		out = append(out, Message{ID: m.id, RoomID: m.rid, Text: m.msg, Username: s.users[m.uid].username,
			ThreadID: m.tmid, Type: m.t, Time: m.ts, UpdatedAt: m.updatedAt, EditedAt: m.editedAt, ThreadCount: m.tcount})
	}
	return out
}

// ---- world operations (s.mu held) ----

func (s *Server) mustUser(username string) *user {
	u := s.byName[username]
	if u == nil {
		panic(fmt.Sprintf("rctest: no user %q", username))
	}
	return u
}

func (s *Server) roomByName(name string) *room {
	for _, r := range s.rooms {
		if r.name == name && r.t != "d" {
			return r
		}
	}
	return nil
}

func (s *Server) sub(uid, rid string) *sub { return s.subs[uid+"|"+rid] }

func (s *Server) isMember(uid string, r *room) bool { return s.sub(uid, r.id) != nil }

// canRead is Authorization.canReadRoom: members, and everybody for public channels.
func (s *Server) canRead(uid string, r *room) bool {
	if uid == "" || r == nil {
		return false
	}
	return r.t == "c" || s.isMember(uid, r)
}

func hasRole(u *user, role string) bool { return u != nil && slices.Contains(u.roles, role) }

// ---- ids ----

const unmistakable = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"

// randomID is a Meteor Random.id(): 17 characters from the unmistakable alphabet.
func randomID() string { return randomString(17, unmistakable) }

func randomToken() string {
	return randomString(43, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Handler is the simulator's HTTP handler (REST + /websocket), for tests that serve it
// themselves.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/websocket", s.serveWebSocket)
	mux.HandleFunc("/api/", s.serveREST)
	mux.HandleFunc("GET /file-upload/{id}/{name}", s.serveFile)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"success": false, "error": "Resource not found"})
	})
	return mux
}
