package session

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The identity rule (docs/identity.md): a product user is its subject (the JWT's sub, or the
// id a product backend names in /api/admin), never a name. Its Rocket.Chat account is the one
// whose username is derived from the subject by RocketChatUsername, or an existing account an
// admin linked by renaming it to that username.

// MaxSubjectBytes bounds a subject's length in UTF-8 bytes.
const MaxSubjectBytes = 255

// DefaultUsernamePrefix is identity.username_prefix's default.
const DefaultUsernamePrefix = "u-"

// DefaultEmailDomain is identity.email_domain's default: a reserved TLD (RFC 2606) nobody
// can receive mail for.
const DefaultEmailDomain = "users.rcgateway.invalid"

// Identity errors. The gateway maps each to its own HTTP answer.
var (
	// ErrInvalidSubject: empty, too long, not UTF-8 or with control characters.
	ErrInvalidSubject = errors.New("session: invalid subject")
	// ErrAccountProtected: the account is the admin agent's own or has the admin role.
	ErrAccountProtected = errors.New("session: account is protected")
	// ErrAccountDeactivated: the user's Rocket.Chat account is deactivated.
	ErrAccountDeactivated = errors.New("session: account is deactivated")
	// ErrRevoked: the user was deleted after the caller's token was issued.
	ErrRevoked = errors.New("session: user was deleted; token revoked")
	// ErrNoSuchAccount: the Rocket.Chat account to link does not exist.
	ErrNoSuchAccount = errors.New("session: no such rocket.chat account")
	// ErrLinkConflict: the product user already has another Rocket.Chat account.
	ErrLinkConflict = errors.New("session: the product user already has another rocket.chat account")
)

// ValidateSubject checks a product user id: 1 to MaxSubjectBytes bytes of valid UTF-8 with no
// control characters. Every such string has its own account.
func ValidateSubject(sub string) error {
	switch {
	case sub == "":
		return fmt.Errorf("%w: empty", ErrInvalidSubject)
	case len(sub) > MaxSubjectBytes:
		return fmt.Errorf("%w: over %d bytes", ErrInvalidSubject, MaxSubjectBytes)
	case !utf8.ValidString(sub):
		return fmt.Errorf("%w: not UTF-8", ErrInvalidSubject)
	case strings.ContainsFunc(sub, unicode.IsControl):
		return fmt.Errorf("%w: control character", ErrInvalidSubject)
	}
	return nil
}

// ValidUsernamePrefix reports whether p can prefix derived usernames: 1 to 32 of [a-z0-9_-].
// It must hold no '.', which is what keeps the two forms of RocketChatUsername apart.
func ValidUsernamePrefix(p string) bool {
	return p != "" && len(p) <= 32 && plainSafe(p)
}

// plainSafe: only characters that Rocket.Chat's default username rule (UTF8_User_Names_Validation
// [0-9a-zA-Z-_.]+) accepts and that its case-insensitive lookups cannot confuse: lowercase
// letters, digits, '-' and '_' (no '.', reserved for the encoded form).
func plainSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// RocketChatUsername derives the Rocket.Chat username of the product user sub:
// prefix+sub when sub is all [a-z0-9_-] (the plain form), else
// prefix+"."+base32(sub's UTF-8 bytes), lowercase and unpadded (the encoded form). The map is
// injective for every prefix that ValidUsernamePrefix accepts: the plain form never holds a
// '.', the encoded one always has one right after the prefix, and base32 is injective. Both
// forms are lowercase, so Rocket.Chat's case-insensitive uniqueness cannot merge two.
func RocketChatUsername(prefix, sub string) string {
	if sub != "" && plainSafe(sub) {
		return prefix + sub
	}
	return prefix + "." + strings.ToLower(b32.EncodeToString([]byte(sub)))
}

// SubjectOf inverts RocketChatUsername: the subject whose derived username is username, and
// false when username is not a derived one under prefix.
func SubjectOf(prefix, username string) (string, bool) {
	rest, ok := strings.CutPrefix(username, prefix)
	if !ok || rest == "" {
		return "", false
	}
	if enc, ok := strings.CutPrefix(rest, "."); ok {
		b, err := b32.DecodeString(strings.ToUpper(enc))
		if err != nil || RocketChatUsername(prefix, string(b)) != username {
			return "", false
		}
		return string(b), true
	}
	if !plainSafe(rest) {
		return "", false
	}
	return rest, true
}

// accountEmail is the address a provisioned account gets: a hash of its username under
// domain. Rocket.Chat needs a unique e-mail per account; one taken from a token's claims
// would let one product user block (or, where an IdP lets users set it, collide with)
// another's account, so claims never choose it.
func accountEmail(username, domain string) string {
	h := sha256.Sum256([]byte(username))
	return "u" + hex.EncodeToString(h[:16]) + "@" + domain
}
