// Day separators and short times for the message list and the room list, in the UI's
// language: "Today", "Yesterday", a weekday within the last week, a date before that.
import { locale, t } from './i18n'

const startOfDay = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime()
const DAY = 86400000

function daysAgo(date, now) {
  return Math.round((startOfDay(now) - startOfDay(date)) / DAY)
}

export function sameDay(a, b) {
  return startOfDay(new Date(a)) === startOfDay(new Date(b))
}

export function dayLabel(ts, now = new Date()) {
  const d = new Date(ts)
  const n = daysAgo(d, now)
  if (n === 0) return t('day.today')
  if (n === 1) return t('day.yesterday')
  if (n > 1 && n < 7) return d.toLocaleDateString(locale.value, { weekday: 'long' })
  const o = { month: 'long', day: 'numeric', weekday: 'short' }
  if (d.getFullYear() !== now.getFullYear()) o.year = 'numeric'
  return d.toLocaleDateString(locale.value, o)
}

export function timeLabel(ts) {
  return ts ? new Date(ts).toLocaleTimeString(locale.value, { hour: '2-digit', minute: '2-digit' }) : ''
}

export function fullLabel(ts) {
  return ts ? new Date(ts).toLocaleString(locale.value, { dateStyle: 'full', timeStyle: 'short' }) : ''
}

// shortWhen is the room list's "when": a time today, "Yesterday", a weekday, or a date.
export function shortWhen(ts, now = new Date()) {
  if (!ts) return ''
  const d = new Date(ts)
  const n = daysAgo(d, now)
  if (n === 0) return timeLabel(ts)
  if (n === 1) return t('day.yesterday')
  if (n > 1 && n < 7) return d.toLocaleDateString(locale.value, { weekday: 'short' })
  const o = { month: 'numeric', day: 'numeric' }
  if (d.getFullYear() !== now.getFullYear()) o.year = 'numeric'
  return d.toLocaleDateString(locale.value, o)
}
