import { SimulatorConfigError, simulatorOptionsFromEnv } from './simulator.config.js';

describe('simulatorOptionsFromEnv', () => {
  const noFile = (): string => {
    throw new Error('ENOENT: no such file');
  };

  it('uses the documented defaults when nothing is set', () => {
    expect(simulatorOptionsFromEnv({}, noFile)).toMatchObject({
      port: 4010,
      seed: 42,
      tokenLifetimeSeconds: 3600,
      maxRequestIds: 1_000_000,
      host: undefined,
      profiles: undefined,
    });
  });

  it('reads every variable', () => {
    const options = simulatorOptionsFromEnv(
      {
        SIM_PORT: '0',
        SIM_HOST: '::1',
        SIM_SEED: '7',
        SIM_CLIENT_ID: 'id',
        SIM_CLIENT_SECRET: 'secret',
        SIM_ACCESS_KEY_ID: 'key',
        SIM_ACCESS_KEY_SECRET: 'key-secret',
        SIM_TOKEN_LIFETIME_SECONDS: '60',
        SIM_TENANT: 'acme',
        SIM_EXECUTE_PATH: '/actions/{actionId}',
        SIM_PROFILES: '{"*":{"latency_ms":20}}',
        SIM_MAX_REQUEST_IDS: '5000',
      },
      noFile,
    );
    expect(options).toEqual({
      port: 0,
      host: '::1',
      seed: 7,
      clientId: 'id',
      clientSecret: 'secret',
      accessKeyId: 'key',
      accessKeySecret: 'key-secret',
      tokenLifetimeSeconds: 60,
      tenant: 'acme',
      executePath: '/actions/{actionId}',
      maxRequestIds: 5000,
      profiles: { '*': { latency_ms: 20 } },
    });
  });

  it('reads profiles from SIM_PROFILES_FILE', () => {
    const options = simulatorOptionsFromEnv({ SIM_PROFILES_FILE: '/p.json' }, (path) =>
      path === '/p.json' ? '{"lookup":{"error_rate":0.1}}' : noFile(),
    );
    expect(options.profiles).toEqual({ lookup: { error_rate: 0.1 } });
  });

  it.each([
    [{ SIM_PORT: 'abc' }, /^SIM_PORT must be an integer between 0 and 65535/],
    [{ SIM_PORT: '70000' }, /^SIM_PORT /],
    [{ SIM_SEED: '1.5' }, /^SIM_SEED /],
    [{ SIM_TOKEN_LIFETIME_SECONDS: '-1' }, /^SIM_TOKEN_LIFETIME_SECONDS /],
    [{ SIM_PROFILES: '{oops' }, /^SIM_PROFILES is not valid JSON/],
    [{ SIM_PROFILES: '{"a":{"error_rate":2}}' }, /^SIM_PROFILES: profiles\["a"\]\.error_rate /],
    [{ SIM_PROFILES_FILE: '/missing.json' }, /^SIM_PROFILES_FILE cannot be read/],
    [{ SIM_PROFILES: '{}', SIM_PROFILES_FILE: '/p.json' }, /both set/],
    [{ SIM_EXECUTE_PATH: '/no/placeholder' }, /^SIM_EXECUTE_PATH /],
    [{ SIM_MAX_REQUEST_IDS: '0' }, /^SIM_MAX_REQUEST_IDS /],
  ])('refuses %j with one line naming the variable', (env, message) => {
    expect(() => simulatorOptionsFromEnv(env, noFile)).toThrow(SimulatorConfigError);
    expect(() => simulatorOptionsFromEnv(env, noFile)).toThrow(message);
  });
});
