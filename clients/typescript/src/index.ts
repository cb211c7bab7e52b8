// Dialogue Insights' typed client: the generated operations and types, and a client to run them.
export * from './generated/graphql';
export * from './client';
export * from './dashboard';
