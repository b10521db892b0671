package daemon

import (
	"fmt"
	"net"
	"os/user"
	"strconv"

	"github.com/statebus/statebus/internal/config"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

// peerInfo adapts the OS's peer credentials for the server.
func peerInfo(c net.Conn) (server.PeerInfo, error) {
	p, err := transport.PeerOf(c)
	return server.PeerInfo{PID: p.PID, UID: p.UID, GID: p.GID}, err
}

// lookupIDs resolves names or numbers to ids with lookup; key names the
// setting in errors.
func lookupIDs(items []string, key string, lookup func(string) (string, error)) (map[int]bool, error) {
	ids := make(map[int]bool, len(items))
	for _, it := range items {
		s := it
		if _, err := strconv.Atoi(it); err != nil {
			if s, err = lookup(it); err != nil {
				return nil, fmt.Errorf("MessageBus.%s: %q: %w", key, it, err)
			}
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("MessageBus.%s: %q has no numeric id", key, it)
		}
		ids[n] = true
	}
	return ids, nil
}

// peerList is a set of users and groups from the configuration.
type peerList struct {
	uids, gids map[int]bool
}

// newPeerList resolves the users and groups of the settings named
// usersKey and groupsKey.
func newPeerList(users, groups []string, usersKey, groupsKey string) (peerList, error) {
	uids, err := lookupIDs(users, usersKey, func(n string) (string, error) {
		u, err := user.Lookup(n)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
	if err != nil {
		return peerList{}, err
	}
	gids, err := lookupIDs(groups, groupsKey, func(n string) (string, error) {
		g, err := user.LookupGroup(n)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
	return peerList{uids, gids}, err
}

// has reports whether p's uid is listed, or its primary or any
// supplementary group is.
func (l peerList) has(p server.PeerInfo) bool {
	if p.UID < 0 {
		return false
	}
	if l.uids[p.UID] || l.gids[p.GID] {
		return true
	}
	if len(l.gids) > 0 {
		if u, err := user.LookupId(strconv.Itoa(p.UID)); err == nil {
			if groups, err := u.GroupIds(); err == nil {
				for _, g := range groups {
					if n, err := strconv.Atoi(g); err == nil && l.gids[n] {
						return true
					}
				}
			}
		}
	}
	return false
}

// authorizer builds the accept-time check of AllowedUsers and
// AllowedGroups, or nil when neither is set. A peer is allowed if its uid
// is listed, or its primary or any supplementary group is.
func authorizer(cfg config.Config) (func(server.PeerInfo) error, error) {
	if len(cfg.AllowedUsers) == 0 && len(cfg.AllowedGroups) == 0 {
		return nil, nil
	}
	if !peerCredentialsSupported {
		return nil, fmt.Errorf("MessageBus.AllowedUsers and AllowedGroups need peer credentials, which this platform's pipes do not give; use the pipe's security descriptor")
	}
	list, err := newPeerList(cfg.AllowedUsers, cfg.AllowedGroups, "AllowedUsers", "AllowedGroups")
	if err != nil {
		return nil, err
	}
	return func(p server.PeerInfo) error {
		if p.UID < 0 {
			return fmt.Errorf("the peer's identity is unknown")
		}
		if list.has(p) {
			return nil
		}
		return fmt.Errorf("uid %d is not in AllowedUsers or AllowedGroups", p.UID)
	}, nil
}

// monitorAuthorizer builds the check of who may attach a monitor: the
// server's default (the bus's own user and root) plus MonitorUsers and
// MonitorGroups. It returns nil, the server's default alone, when
// neither is set.
func monitorAuthorizer(cfg config.Config) (func(server.PeerInfo) error, error) {
	if len(cfg.MonitorUsers) == 0 && len(cfg.MonitorGroups) == 0 {
		return nil, nil
	}
	if !peerCredentialsSupported {
		return nil, fmt.Errorf("MessageBus.MonitorUsers and MonitorGroups need peer credentials, which this platform's pipes do not give; set a Token for monitors instead")
	}
	list, err := newPeerList(cfg.MonitorUsers, cfg.MonitorGroups, "MonitorUsers", "MonitorGroups")
	if err != nil {
		return nil, err
	}
	return func(p server.PeerInfo) error {
		if list.has(p) {
			return nil
		}
		return server.DefaultAuthorizeMonitor(p)
	}, nil
}

// socketGroup resolves MessageBus.SocketGroup to a gid, -1 for none.
func socketGroup(cfg config.Config) (int, error) {
	if cfg.SocketGroup == "" {
		return -1, nil
	}
	if n, err := strconv.Atoi(cfg.SocketGroup); err == nil {
		return n, nil
	}
	g, err := user.LookupGroup(cfg.SocketGroup)
	if err != nil {
		return -1, fmt.Errorf("MessageBus.SocketGroup: %w", err)
	}
	return strconv.Atoi(g.Gid)
}
