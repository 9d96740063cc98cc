import type { ChatModelConfig, PermissionMode } from './schedule.js';

export const SESSION_SOURCES = ['user', 'schedule', 'channel'] as const;
export type SessionSource = (typeof SESSION_SOURCES)[number];

export const TASK_STATES = ['pending', 'in_progress', 'completed'] as const;
export type TaskState = (typeof TASK_STATES)[number];

// The session's config and state are the agent runtime's documents: kept in the wire's
// snake_case shape (the seed's), stored as JSON and returned as they are.

export interface TextBlock {
  type: 'text';
  text: string;
  id: string;
}

export interface Message {
  name: string;
  content: TextBlock[];
  id: string;
  metadata: Record<string, unknown>;
  created_at: string;
  finished_at: string | null;
  usage: { input_tokens: number; output_tokens: number } | null;
}

export interface Task {
  subject: string;
  description: string;
  metadata: Record<string, unknown>;
  created_at: string;
  state: TaskState;
  id: string;
  owner: string | null;
  blocks: string[];
  blocked_by: string[];
}

export interface ReadFileCacheEntry {
  lines: string[];
  updated_at: number;
  bytes: number;
  file_path: string;
}

export interface SessionState {
  session_id: string;
  summary: string;
  context: Message[];
  reply_id: string | null;
  cur_iter: number;
  permission_context: {
    mode: PermissionMode;
    working_directories: Record<string, unknown>;
    allow_rules: Record<string, unknown>;
    deny_rules: Record<string, unknown>;
    ask_rules: Record<string, unknown>;
  };
  tool_context: {
    max_cache_files: number;
    max_cache_bytes: number;
    read_file_cache: ReadFileCacheEntry[];
    activated_groups: string[];
  };
  tasks_context: { tasks: Task[] };
}

export interface SessionConfig {
  workspace_id: string | null;
  name: string;
  chat_model_config: ChatModelConfig;
  fallback_chat_model_config: ChatModelConfig | null;
}

/** An execution session: the record an agent runtime picks up and runs. */
export interface Session {
  id: string;
  userId: string;
  agentId: string;
  config: SessionConfig;
  source: SessionSource;
  sourceScheduleId: string | null;
  teamId: string | null;
  state: SessionState;
  createdAt: Date;
  updatedAt: Date;
}
