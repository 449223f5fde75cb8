// The emoji the UI shows for Rocket.Chat's reaction names (":name:", the emojione/joypixels
// short names Rocket.Chat uses), and the few offered in the quick picker.
const CHARS = {
  ':+1:': '👍', ':thumbsup:': '👍', ':-1:': '👎', ':thumbsdown:': '👎', ':heart:': '❤️',
  ':joy:': '😂', ':smile:': '😄', ':tada:': '🎉', ':eyes:': '👀', ':white_check_mark:': '✅',
  ':pray:': '🙏', ':fire:': '🔥', ':rocket:': '🚀', ':ok_hand:': '👌', ':clap:': '👏',
}

/** The quick picker's reactions, in order. */
export const PICKER = [':+1:', ':heart:', ':joy:', ':tada:', ':eyes:', ':white_check_mark:']

/** emojiChar shows a reaction name as its emoji, or as the name when not known. */
export function emojiChar(name) {
  return CHARS[name] || name
}
