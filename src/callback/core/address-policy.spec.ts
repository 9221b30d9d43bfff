import { CallbackHostPolicy, refusedRangeOf } from './address-policy.js';

describe('refusedRangeOf', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fe80::1', 'link-local'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback'],
    ['::ffff:10.1.2.3', 'IPv4-mapped private'],
    ['::ffff:169.254.169.254', 'IPv4-mapped link-local'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 link-local'],
    ['::7f00:1', 'IPv4-compatible loopback'],
    ['2002:a00:1::1', '6to4 private'],
  ])('refuses %s as %s', (address, range) => {
    expect(refusedRangeOf(address)).toBe(range);
  });

  it.each([
    '8.8.8.8',
    '172.32.0.1',
    '100.128.0.1',
    '169.255.0.1',
    '11.0.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('lets %s through', (address) => {
    expect(refusedRangeOf(address)).toBeUndefined();
  });

  it('is not fooled by a name', () => {
    expect(refusedRangeOf('localhost')).toBeUndefined();
  });
});

describe('CallbackHostPolicy.intakeProblem', () => {
  const policy = new CallbackHostPolicy(['hooks.internal', '[::1]', '10.0.0.7']);

  it.each([
    ['https://127.0.0.1/x', '127.0.0.1, a loopback address'],
    ['https://2130706433/x', '127.0.0.1, a loopback address'],
    ['https://0x7f.1/x', '127.0.0.1, a loopback address'],
    ['https://[::ffff:127.0.0.1]/x', '::ffff:7f00:1, an IPv4-mapped loopback address'],
    ['https://[fe80::1]:8443/x', 'fe80::1, a link-local address'],
    ['https://169.254.169.254/latest/meta-data', '169.254.169.254, a link-local address'],
  ])('refuses %s, naming what the address is', (url, what) => {
    expect(policy.intakeProblem(url)).toBe(
      `must not point at ${what} (only hosts in CALLBACK_ALLOWED_HOSTS may)`,
    );
  });

  it('lets allowed hosts in, over http too, whatever their address', () => {
    expect(policy.intakeProblem('http://hooks.internal:8080/done')).toBeUndefined();
    expect(policy.intakeProblem('http://HOOKS.internal/done')).toBeUndefined();
    expect(policy.intakeProblem('https://[::1]:9443/done')).toBeUndefined();
    expect(policy.intakeProblem('https://10.0.0.7/done')).toBeUndefined();
  });

  it('leaves names to be checked when they are resolved, at delivery', () => {
    expect(policy.intakeProblem('https://localhost/x')).toBeUndefined();
    expect(policy.intakeProblem('https://metadata.google.internal/x')).toBeUndefined();
  });

  it.each([
    ['http://example.com/x', 'must be https (http only for hosts in CALLBACK_ALLOWED_HOSTS)'],
    ['ftp://example.com/x', 'must be https (http only for hosts in CALLBACK_ALLOWED_HOSTS)'],
    ['not a url', 'must be an absolute https URL'],
    ['https://user:pass@example.com/x', 'must not carry credentials'],
  ])('refuses %s', (url, problem) => {
    expect(policy.intakeProblem(url)).toBe(problem);
  });
});
