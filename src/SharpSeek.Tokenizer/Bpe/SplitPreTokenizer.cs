using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SharpSeek.Tokenizer;

/// <summary>
/// tokenizer.json's pre-tokenizer: a sequence of regex Splits with "Isolated" behaviour (every match and every gap
/// between matches becomes its own piece), each applied to the pieces of the previous one.
/// The patterns are Oniguruma's, which classify code points. .NET's Regex sees UTF-16 and would put each half of an
/// astral character (emoji, CJK extension B) in category Cs, so before matching every astral code point is replaced
/// by a BMP stand-in of the same Unicode category; pieces are then cut from the original text.
/// </summary>
public sealed class SplitPreTokenizer
{
    private readonly Regex[] _patterns;

    public SplitPreTokenizer(IEnumerable<string> patterns)
    {
        _patterns = patterns.Select(p => new Regex(p, RegexOptions.Compiled | RegexOptions.CultureInvariant)).ToArray();
    }

    /// <summary>Appends the pieces of <paramref name="text"/> (as [start, length) into it) to <paramref name="pieces"/>.</summary>
    public void Split(string text, List<(int Start, int Length)> pieces)
    {
        // BMP stand-in text and, for each of its chars, the offset of the original char it came from
        string probe = text;
        int[]? origin = null;
        if (HasSurrogates(text))
        {
            var sb = new StringBuilder(text.Length);
            var map = new List<int>(text.Length + 1);
            for (int i = 0; i < text.Length; i++)
            {
                map.Add(i);
                if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    sb.Append(StandIn(CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]))));
                    i++;
                }
                else sb.Append(text[i]);
            }
            map.Add(text.Length);
            probe = sb.ToString();
            origin = map.ToArray();
        }
        var current = new List<(int, int)> { (0, probe.Length) };
        var next = new List<(int, int)>();
        foreach (var regex in _patterns)
        {
            next.Clear();
            foreach (var (start, length) in current)
            {
                int pos = start, end = start + length;
                var m = regex.Match(probe, start, length);
                while (m.Success)
                {
                    if (m.Length == 0) { m = m.NextMatch(); continue; }
                    if (m.Index > pos) next.Add((pos, m.Index - pos));
                    next.Add((m.Index, m.Length));
                    pos = m.Index + m.Length;
                    m = m.NextMatch();
                }
                if (pos < end) next.Add((pos, end - pos));
            }
            (current, next) = (next, current);
        }
        foreach (var (start, length) in current)
        {
            if (origin == null) pieces.Add((start, length));
            else pieces.Add((origin[start], origin[start + length] - origin[start]));
        }
    }

    private static bool HasSurrogates(string s)
    {
        foreach (char c in s) if (char.IsSurrogate(c)) return true;
        return false;
    }

    /// <summary>A BMP character of the given category that none of the patterns names literally.</summary>
    private static char StandIn(UnicodeCategory c) => c switch
    {
        UnicodeCategory.UppercaseLetter => '\u00C0',
        UnicodeCategory.LowercaseLetter => '\u00DF',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\u00AA',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u0488',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00A1',
        UnicodeCategory.MathSymbol => '\u00AC',
        UnicodeCategory.CurrencySymbol => '\u00A2',
        UnicodeCategory.ModifierSymbol => '\u00A8',
        UnicodeCategory.OtherSymbol => '\u00A9',
        UnicodeCategory.SpaceSeparator => '\u2000',
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.PrivateUse => '\uE000',
        _ => '\uFFFF', // unassigned
    };
}
