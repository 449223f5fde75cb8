// keydown handler of a message composer: Enter sends, Shift+Enter breaks the line, and an
// Enter that ends an IME composition (Chinese, Japanese input) does neither.
export function enterSends(send) {
  return (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault()
      send()
    }
  }
}
