import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { escapeHtml, html, jsonForScript, trustedHtml } from './html.js';

describe('html', () => {
  it('escapes every interpolated string, joins arrays, keeps nested html', () => {
    const name = `<script>alert("1")</script>&'`;
    assert.equal(
      html`<td title="${name}">${name}</td>`.value,
      '<td title="&lt;script&gt;alert(&quot;1&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;1&quot;)&lt;/script&gt;&amp;&#39;</td>',
    );
    assert.equal(html`<ul>${['<a>', 'b'].map((x) => html`<li>${x}</li>`)}</ul>`.value, '<ul><li>&lt;a&gt;</li><li>b</li></ul>');
    assert.equal(html`${null}${undefined}${false}${0}`.value, '0');
    assert.equal(html`${trustedHtml('<b>')}`.value, '<b>');
  });

  it('never lets a string produce markup characters', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const out = html`${text}`.value;
        assert.doesNotMatch(out, /[<>"']/);
        assert.equal(out, escapeHtml(text));
      }),
    );
  });

  it('keeps JSON data blocks unable to close their script element, and parseable', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const out = jsonForScript(value).value;
        assert.ok(!out.includes('<'));
        assert.deepEqual(JSON.parse(out), JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});
