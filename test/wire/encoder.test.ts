import { describe, expect, it } from 'vitest';
import { isOutlastError } from '../../src/errors.js';
import { encodeComment, encodeEvent, formatComment, formatEvent } from '../../src/wire/index.js';

describe('formatEvent', () => {
  it('writes event, data, id and retry lines and a blank line', () => {
    expect(formatEvent({ id: '7', event: 'progress', data: 'half', retry: 1500 })).toBe(
      'id: 7\nevent: progress\nretry: 1500\ndata: half\n\n',
    );
  });

  it('serialises non-string data as JSON', () => {
    expect(formatEvent({ data: { a: [1, 'x'] } })).toBe('data: {"a":[1,"x"]}\n\n');
    expect(formatEvent({ data: 3 })).toBe('data: 3\n\n');
    expect(formatEvent({ data: null })).toBe('data: null\n\n');
  });

  it('splits data on CR, LF and CRLF into one data line each', () => {
    expect(formatEvent({ data: 'a\nb\r\nc\rd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n');
    expect(formatEvent({ data: 'end\n' })).toBe('data: end\ndata: \n\n');
    expect(formatEvent({ data: '' })).toBe('data: \n\n');
  });

  it('omits data when undefined (an id-only block)', () => {
    expect(formatEvent({ id: '9' })).toBe('id: 9\n\n');
  });

  it.each([
    ['id with LF', { id: 'a\nb' }],
    ['id with CR', { id: 'a\rb' }],
    ['id with NUL', { id: 'a\0b' }],
    ['event with LF', { event: 'x\ny' }],
    ['event with CR', { event: 'x\r' }],
    ['data not serialisable', { data: () => 1 }],
  ])('rejects %s with invalid-field', (_name, event) => {
    try {
      formatEvent(event);
      expect.unreachable();
    } catch (error) {
      expect(isOutlastError(error, 'invalid-field')).toBe(true);
    }
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects retry %s', (retry) => {
    expect(() => formatEvent({ data: 'x', retry })).toThrowError(
      expect.objectContaining({ code: 'invalid-retry' }),
    );
  });

  it('encodes to UTF-8 bytes', () => {
    expect(new TextDecoder().decode(encodeEvent({ data: 'é' }))).toBe('data: é\n\n');
    expect(new TextDecoder().decode(encodeComment('hb'))).toBe(': hb\n');
  });
});

describe('formatComment', () => {
  it('writes an empty or a texted comment line', () => {
    expect(formatComment()).toBe(':\n');
    expect(formatComment('keep-alive')).toBe(': keep-alive\n');
    expect(formatComment('a\nb')).toBe(': a\n: b\n');
  });
});
